using System.CommandLine;
using LZN.Cli.Commands;

var root = new RootCommand("lzn: Latent Zoning Networks on a native CUDA core, with a CPU backend everywhere else.");
root.Options.Add(CommonOptions.Verbose);
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(SelfTestCommand.Create());
root.Subcommands.Add(ZonesCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(KernelsCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(SampleCommand.Create());
root.Subcommands.Add(ProbeCommand.Create());
root.Subcommands.Add(EmbedCommand.Create());
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
    return CommonOptions.ReportUsageError(parsed);
CommonOptions.IsVerbose = parsed.GetValue(CommonOptions.Verbose);
return parsed.Invoke();
