namespace LZN.Native.Backends;

/// <summary>
/// Rectified-flow kernels (docs/math.md section 9; kernels/flow_matching.cu, CPU mirror
/// Backends/Cpu/CpuFlowMatchingKernels.cs): the training interpolant and target, the fused L2 loss and its
/// gradient, and the scaled error norm the adaptive sampler controls its step size by.
/// Every reduction writes its result into a one-element device buffer, so nothing synchronises.
/// </summary>
public interface IFlowMatchingKernels
{
    /// <summary>
    /// For each row r and element e: noisy = t_r x1 + (1 - t_r) x0 and target = x1 - x0.
    /// Shapes: data (x1), noise (x0), noisy and target [rows, rowLength]; times [rows].
    /// </summary>
    void BuildTrainingPair(int rows, int rowLength, FloatBuffer data, FloatBuffer noise, FloatBuffer times,
        FloatBuffer noisy, FloatBuffer target);

    /// <summary>
    /// loss[0] = mean_e (target_e - prediction_e)^2 over all n elements, and in the same pass
    /// predictionGrad = lossScale * dloss/dprediction = lossScale * 2 (prediction - target) / n (overwritten).
    /// Shapes: prediction, target, predictionGrad [n]; loss [1].
    /// </summary>
    void MeanSquaredError(FloatBuffer prediction, FloatBuffer target, FloatBuffer loss, FloatBuffer? predictionGrad, float lossScale = 1f);

    /// <summary>
    /// result[0] = sum_e (error_e / (absoluteTolerance + relativeTolerance * max(|y0_e|, |y1_e|)))^2, the
    /// squared error norm of an adaptive ODE step before the mean and square root (scipy's RK45 convention).
    /// Shapes: error, y0, y1 [n]; result [1].
    /// </summary>
    void ScaledSquaredErrorSum(FloatBuffer error, FloatBuffer y0, FloatBuffer y1, float relativeTolerance,
        float absoluteTolerance, FloatBuffer result);
}
