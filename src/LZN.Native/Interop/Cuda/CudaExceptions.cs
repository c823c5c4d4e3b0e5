namespace LZN.Native.Interop.Cuda;

/// <summary>A CUDA driver call failed; the message names the driver's error and the failing call.</summary>
public sealed class CudaException : Exception
{
    internal CudaException(CUresult result, string call)
        : this(result, call, CudaDriver.ErrorName(result), CudaDriver.ErrorString(result))
    {
    }

    private CudaException(CUresult result, string call, string errorName, string errorString)
        : base($"{call} failed: {errorName}{(errorString.Length == 0 ? "" : $" ({errorString})")}")
    {
        Result = result;
        Call = call;
        ErrorName = errorName;
    }

    public CUresult Result { get; }

    /// <summary>The driver's name for <see cref="Result"/>, e.g. CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public string ErrorName { get; }

    /// <summary>The source text of the call that failed.</summary>
    public string Call { get; }
}

/// <summary>An NVRTC call other than the compilation itself failed.</summary>
public sealed class NvrtcException : Exception
{
    internal NvrtcException(nvrtcResult result, string call)
        : base($"{call} failed: {result} ({Nvrtc.ErrorString(result)})")
    {
        Result = result;
        Call = call;
    }

    public nvrtcResult Result { get; }

    public string Call { get; }
}

/// <summary>NVRTC rejected a kernel source; carries the file name, the options and NVRTC's full log.</summary>
public sealed class NvrtcCompileException : Exception
{
    internal NvrtcCompileException(string fileName, IReadOnlyList<string> options, string log)
        : base($"NVRTC could not compile {fileName} with options [{string.Join(' ', options)}]:{Environment.NewLine}{log}")
    {
        FileName = fileName;
        Options = options;
        Log = log;
    }

    public string FileName { get; }

    public IReadOnlyList<string> Options { get; }

    /// <summary>NVRTC's program log, complete.</summary>
    public string Log { get; }
}

/// <summary>A cuBLAS call failed; the message names the status.</summary>
public sealed class CublasException : Exception
{
    internal CublasException(cublasStatus_t status, string call)
        : base($"{call} failed: {Cublas.StatusName(status)} ({Cublas.StatusString(status)})")
    {
        Status = status;
        Call = call;
    }

    public cublasStatus_t Status { get; }

    public string Call { get; }
}
