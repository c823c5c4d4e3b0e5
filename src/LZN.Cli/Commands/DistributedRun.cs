using System.Globalization;
using LZN.Native.Distributed;

namespace LZN.Cli.Commands;

/// <summary>
/// Runs a command as one rank of a data-parallel job when mpirun started this process (docs/distributed.md), or as
/// the single process otherwise (then nothing MPI-related loads). A failure on one rank prints that rank's one-line
/// error and ends every rank through MPI_Abort with its exit code, so the others never wait for it in a collective.
/// Ranks other than 0 print no progress: their standard output is discarded.
/// </summary>
internal static class DistributedRun
{
    /// <summary>Open MPI's rank on this machine, which picks the GPU of `--device cuda` under mpirun.</summary>
    public const string LocalRankVariable = "OMPI_COMM_WORLD_LOCAL_RANK";

    public static int Run(Func<ICollective, int> body, IReadOnlyDictionary<string, string>? configOptions = null)
    {
        ICollective collective;
        try
        {
            collective = DistributedLaunch.Create();
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or MpiException)
        {
            Console.Error.WriteLine($"lzn: error: started by mpirun ({DistributedLaunch.SizeVariable}={DistributedLaunch.WorldSize}) but MPI is unavailable: "
                + ex.Message.ReplaceLineEndings(" "));
            return CommonOptions.UsageErrorExitCode;
        }
        using (collective)
        {
            if (collective.WorldSize == 1)
                return CommonOptions.Run(() => body(collective), configOptions);
            CommonOptions.ErrorPrefix = $"rank {collective.Rank} of {collective.WorldSize}: ";
            if (collective.Rank != 0)
                Console.SetOut(TextWriter.Null);
            int code;
            try
            {
                code = CommonOptions.Run(() => body(collective), configOptions);
            }
            catch (Exception ex)
            {
                // A bug: keep its stack trace, but end the job instead of leaving the other ranks waiting.
                Console.Error.WriteLine($"lzn: error: {CommonOptions.ErrorPrefix}{ex}");
                code = 1;
            }
            if (code is not 0 and not TrainCommand.InterruptedExitCode)
            {
                Console.Error.Flush();
                collective.Abort(code);
            }
            return code;
        }
    }

    /// <summary>`--device cuda` without an ordinal means this rank's own GPU under mpirun: cuda:local rank.</summary>
    public static string? DeviceOfRank(string? device, ICollective collective)
    {
        ArgumentNullException.ThrowIfNull(collective);
        string? text = device ?? Environment.GetEnvironmentVariable(LZN.Native.Backends.DeviceRequest.EnvironmentVariable);
        if (collective.WorldSize == 1 || !string.Equals(text?.Trim(), "cuda", StringComparison.OrdinalIgnoreCase))
            return device;
        return int.TryParse(Environment.GetEnvironmentVariable(LocalRankVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int local)
            ? $"cuda:{local}" : device;
    }
}
