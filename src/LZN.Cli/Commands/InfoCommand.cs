using System.CommandLine;
using System.Globalization;
using LZN.Native.Backends;
using LZN.Native.Backends.Cuda;
using LZN.Native.Interop;

namespace LZN.Cli.Commands;

/// <summary>`lzn info`: the backend auto would pick, the device, and every native library with its version or load trace.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Show the backend, the device, native library paths and versions, or why CUDA is unavailable.");
        command.SetAction(_ => DistributedRun.Run(collective =>
        {
            var cuda = CudaRuntimeInfo.Probe();
            var request = DeviceRequest.Resolve(null);
            Console.WriteLine($"lzn {typeof(InfoCommand).Assembly.GetName().Version} on .NET {Environment.Version}, {Environment.ProcessorCount} cores");
            Console.WriteLine($"device request: {request} ({DeviceRequest.EnvironmentVariable}={Environment.GetEnvironmentVariable(DeviceRequest.EnvironmentVariable) ?? "unset"})");
            Console.WriteLine($"backend: {(cuda.Available ? "CUDA" : "CPU")} (what auto picks)");
            Console.WriteLine();

            Console.WriteLine("CPU");
            Console.WriteLine($"  OpenBLAS: {OpenBlasInfo.Describe()}");
            PrintLibrary("  path", NativeLibraryStatus.From(OpenBlasInfo.Load));
            Console.WriteLine();

            Console.WriteLine("CUDA");
            Console.WriteLine(cuda.Available ? "  available" : $"  unavailable: {cuda.UnavailableReason}");
            Console.WriteLine($"  driver:  {cuda.DriverVersion ?? "-"}");
            Console.WriteLine($"  NVRTC:   {cuda.NvrtcVersion ?? "-"}{Architectures(cuda.NvrtcArchitectures)}");
            Console.WriteLine($"  cuBLAS:  {(cuda.CublasVersion is int version ? version.ToString(CultureInfo.InvariantCulture) : "-")}");
            string zoneKernels = Environment.GetEnvironmentVariable(ZoneKernelVersions.EnvironmentVariable) ?? "";
            Console.WriteLine($"  zone kernels: {(ZoneKernelVersions.TryParse(zoneKernels, out var zones) ? ZoneKernelVersions.Name(zones) : "not valid: expected " + ZoneKernelVersions.Names)} "
                + $"({ZoneKernelVersions.EnvironmentVariable}={(zoneKernels.Length == 0 ? "unset" : zoneKernels)})");
            PrintLibrary("  libcuda", cuda.Driver);
            PrintLibrary("  libnvrtc", cuda.Nvrtc);
            PrintLibrary("  libcublas", cuda.Cublas);
            foreach (var device in cuda.Devices)
            {
                Console.WriteLine($"  device {device.Ordinal}: {device.Name}, {device.MultiprocessorCount} SMs, "
                    + $"compute capability {device.ComputeCapabilityMajor}.{device.ComputeCapabilityMinor}, "
                    + $"{device.TotalMemoryBytes / (1024.0 * 1024 * 1024):0.0} GiB, {device.MaxSharedMemoryPerBlockOptin} B shared memory per block (opt-in)");
                if (device.Architecture < 80)
                    Console.WriteLine($"    zone kernels: gemm whatever {ZoneKernelVersions.EnvironmentVariable} says (the fused tiles need compute capability 8.0: cp.async, mma)");
            }
            foreach (string problem in cuda.Problems)
                Console.WriteLine($"  problem: {problem}");
            Console.WriteLine();
            Console.WriteLine("Distributed");
            // Without mpirun nothing MPI-related is loaded, so only the launcher's variables are reported.
            Console.WriteLine(LZN.Native.Distributed.DistributedLaunch.UnderMpi
                ? $"  {collective.Description}; this is rank {collective.Rank} of world size {collective.WorldSize}"
                : $"  single process, world size 1 (not started by mpirun: {LZN.Native.Distributed.DistributedLaunch.SizeVariable} is unset)");
            Console.WriteLine();
            Console.WriteLine($"kernel cache: {LZN.Native.Kernels.KernelCache.DefaultFolder()}");
            return 0;
        }));
        return command;
    }

    private static string Architectures(IReadOnlyList<int> architectures) =>
        architectures.Count == 0 ? "" : $" (targets sm_{string.Join(", sm_", architectures)})";

    private static void PrintLibrary(string label, NativeLibraryStatus status)
    {
        if (status.Loaded)
        {
            Console.WriteLine($"{label}: {status.Path}");
            return;
        }
        Console.WriteLine($"{label}: not loaded; tried:");
        foreach (string attempt in status.Attempts)
            Console.WriteLine($"      {attempt}");
    }
}
