using LZN.Native.Backends;

namespace LZN.Native.Optim;

/// <summary>
/// Global-norm gradient clipping (PyTorch's clip_grad_norm_): norm = sqrt(sum over all gradients of g^2), and
/// every gradient is scaled by min(1, maxNorm / (norm + 1e-6)). The scale is not applied here: it is passed to
/// the Adam kernel, which multiplies it in while it reads the gradient anyway.
/// </summary>
public sealed class GradientClipper
{
    /// <summary>PyTorch's guard against dividing by a zero norm.</summary>
    public const double NormEpsilon = 1e-6;

    public GradientClipper(double maxNorm)
    {
        if (!(maxNorm > 0) || double.IsPositiveInfinity(maxNorm))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "the clipping norm must be positive and finite.");
        MaxNorm = maxNorm;
    }

    public double MaxNorm { get; }

    /// <summary>The factor the gradients are multiplied by for a global norm <paramref name="norm"/>.</summary>
    public float Scale(double norm) => (float)Math.Min(1.0, MaxNorm / (norm + NormEpsilon));

    /// <summary>
    /// Queues result[0] = sum over every gradient element of g^2 without synchronising: one SumOfSquares per
    /// tensor into a per-tensor slot, then one Sum. NaN or Inf in any gradient makes the result NaN or Inf.
    /// </summary>
    public static void QueueSquaredNorm(IBackend backend, IReadOnlyList<ITrainableParameter> parameters, FloatBuffer result)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (parameters.Count == 0)
        {
            backend.Fill(result.Slice(0, 1), 0f);
            return;
        }
        using var perTensor = backend.AllocateFloat(parameters.Count); // [parameterCount]
        for (int i = 0; i < parameters.Count; i++)
            backend.SumOfSquares(parameters[i].Grad, perTensor.Slice(i, 1));
        backend.Sum(perTensor, result.Slice(0, 1));
    }

    /// <summary>The global gradient norm, read back to the host (synchronises).</summary>
    public static double Norm(IBackend backend, IReadOnlyList<ITrainableParameter> parameters)
    {
        using var squared = backend.AllocateFloat(1); // [1]
        QueueSquaredNorm(backend, parameters, squared);
        return Math.Sqrt(squared.ReadScalar());
    }
}
