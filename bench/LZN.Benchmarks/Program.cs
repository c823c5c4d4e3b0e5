using BenchmarkDotNet.Running;
using LZN.Benchmarks;

if (args.Length > 0 && args[0] == "nn-quick")
    NnQuickCheck.Run(args[1..]);
else
    BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
