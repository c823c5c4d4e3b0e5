namespace LZN.Native.Backends.Cuda;

// Launchers for kernels/elementwise.cu (the CPU mirror is CpuBackend).
public sealed partial class CudaBackend
{
    /// <summary>Threads per block of every grid-stride kernel (elementwise, RNG, NN, optimizer, flow matching).</summary>
    internal const int GridStrideThreads = 256;

    public unsafe void Axpby(float alpha, FloatBuffer x, float beta, FloatBuffer y)
    {
        ArgumentChecks.Length(y, x.Length, nameof(y));
        ulong input = Cast(x).Address, output = Cast(y).Address;
        long count = y.Length;
        void** arguments = stackalloc void*[] { &input, &output, &count, &alpha, &beta };
        LaunchElementwise("elementwise.cu", "axpby", count, arguments);
    }

    public unsafe void Multiply(FloatBuffer x, FloatBuffer y, FloatBuffer z)
    {
        ArgumentChecks.Length(x, z.Length, nameof(x));
        ArgumentChecks.Length(y, z.Length, nameof(y));
        ulong left = Cast(x).Address, right = Cast(y).Address, output = Cast(z).Address;
        long count = z.Length;
        void** arguments = stackalloc void*[] { &left, &right, &output, &count };
        LaunchElementwise("elementwise.cu", "multiply", count, arguments);
    }

    public unsafe void ScaleShift(FloatBuffer x, float alpha, float shift)
    {
        ulong values = Cast(x).Address;
        long count = x.Length;
        void** arguments = stackalloc void*[] { &values, &count, &alpha, &shift };
        LaunchElementwise("elementwise.cu", "scale_shift", count, arguments);
    }

    public unsafe void Activation(ActivationKind kind, FloatBuffer x, FloatBuffer y)
    {
        ArgumentChecks.Activation(kind, x, y, nameof(y));
        ulong input = Cast(x).Address, output = Cast(y).Address;
        long count = y.Length;
        int kindNumber = (int)kind; // kernels/elementwise.cu switches on ActivationKind's numbers (LZN_ACT_*)
        void** arguments = stackalloc void*[] { &input, &output, &count, &kindNumber };
        LaunchElementwise("elementwise.cu", "activation_forward", count, arguments);
    }

    public unsafe void ActivationBackward(ActivationKind kind, FloatBuffer x, FloatBuffer dy, FloatBuffer dx)
    {
        ArgumentChecks.Activation(kind, x, dy, nameof(dy));
        ArgumentChecks.Length(dx, x.Length, nameof(dx));
        ulong input = Cast(x).Address, outputGrad = Cast(dy).Address, inputGrad = Cast(dx).Address;
        long count = x.Length;
        int kindNumber = (int)kind;
        void** arguments = stackalloc void*[] { &input, &outputGrad, &inputGrad, &count, &kindNumber };
        LaunchElementwise("elementwise.cu", "activation_backward", count, arguments);
    }

    public unsafe void AddRowVector(FloatBuffer x, FloatBuffer v, int rows, int cols, float alpha)
    {
        ArgumentChecks.AddRowVector(x, v, rows, cols);
        ulong matrix = Cast(x).Address, vector = Cast(v).Address;
        long rowCount = rows, colCount = cols;
        void** arguments = stackalloc void*[] { &matrix, &vector, &rowCount, &colCount, &alpha };
        LaunchElementwise("elementwise.cu", "add_row_vector", rowCount * colCount, arguments);
    }

    /// <summary>A 1-D grid-stride launch over <paramref name="count"/> elements: ceil-div blocks, capped at one resident wave.</summary>
    internal unsafe void LaunchElementwise(string sourceFile, string functionName, long count, void** arguments)
    {
        if (count == 0)
            return;
        var kernel = Kernel(sourceFile, functionName);
        long blocks = Math.Min((count + GridStrideThreads - 1) / GridStrideThreads, kernel.ResidentGrid(GridStrideThreads, Properties.MultiprocessorCount));
        Launch(kernel, ((uint)blocks, 1, 1), (GridStrideThreads, 1, 1), 0, arguments);
    }
}
