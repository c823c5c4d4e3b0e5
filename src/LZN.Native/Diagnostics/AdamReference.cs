namespace LZN.Native.Diagnostics;

/// <summary>Float64 Adam/AdamW in PyTorch's formulation, one tensor: the oracle of the optimiser kernels and steps.</summary>
public sealed class AdamReference(double[] values)
{
    public double[] Values { get; } = (double[])values.Clone();
    public double[] First { get; } = new double[values.Length];
    public double[] Second { get; } = new double[values.Length];
    public long Steps { get; private set; }

    public void Step(double[] grad, double lr, double beta1, double beta2, double eps, double weightDecay, bool decoupled, double gradScale = 1)
    {
        Steps++;
        double firstCorrection = 1 - Math.Pow(beta1, Steps);
        double secondCorrection = 1 - Math.Pow(beta2, Steps);
        for (int i = 0; i < Values.Length; i++)
        {
            double g = gradScale * grad[i];
            if (decoupled)
                Values[i] *= 1 - lr * weightDecay;
            else
                g += weightDecay * Values[i];
            First[i] = beta1 * First[i] + (1 - beta1) * g;
            Second[i] = beta2 * Second[i] + (1 - beta2) * g * g;
            Values[i] -= lr / firstCorrection * First[i] / (Math.Sqrt(Second[i]) / Math.Sqrt(secondCorrection) + eps);
        }
    }
}
