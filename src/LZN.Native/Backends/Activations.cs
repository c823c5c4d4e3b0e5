namespace LZN.Native.Backends;

/// <summary>Scalar definitions of the activations: the CPU backend's inner loop and the tests' oracle.</summary>
public static class Activations
{
    private const float SqrtTwoOverPi = 0.7978845608f;
    private const float GeluCubic = 0.044715f;

    public static float Forward(ActivationKind kind, float x) => kind switch
    {
        ActivationKind.Identity => x,
        ActivationKind.Relu => x > 0 ? x : 0,
        ActivationKind.Silu => x / (1 + MathF.Exp(-x)),
        ActivationKind.Tanh => MathF.Tanh(x),
        ActivationKind.Sigmoid => 1 / (1 + MathF.Exp(-x)),
        ActivationKind.Gelu => 0.5f * x * (1 + MathF.Tanh(SqrtTwoOverPi * (x + GeluCubic * x * x * x))),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>f'(x), for the backward dx = dy * f'(x).</summary>
    public static float Derivative(ActivationKind kind, float x)
    {
        switch (kind)
        {
            case ActivationKind.Identity:
                return 1;
            case ActivationKind.Relu:
                return x > 0 ? 1 : 0;
            case ActivationKind.Silu:
            {
                float s = 1 / (1 + MathF.Exp(-x));
                return s * (1 + x * (1 - s));
            }
            case ActivationKind.Tanh:
            {
                float th = MathF.Tanh(x);
                return 1 - th * th;
            }
            case ActivationKind.Sigmoid:
            {
                float s = 1 / (1 + MathF.Exp(-x));
                return s * (1 - s);
            }
            case ActivationKind.Gelu:
            {
                float inner = SqrtTwoOverPi * (x + GeluCubic * x * x * x);
                float th = MathF.Tanh(inner);
                float dInner = SqrtTwoOverPi * (1 + 3 * GeluCubic * x * x);
                return 0.5f * (1 + th) + 0.5f * x * (1 - th * th) * dInner;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}
