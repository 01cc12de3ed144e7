using BenchmarkDotNet.Running;
using DaRcot.Benchmarks;

// Runs every benchmark suite in this assembly; pick one with --filter, e.g. --filter *Restormer*.
// "interleaved-shared-work [SIZE] [ROUNDS]" instead times the shared-work methods round-robin (see that class).
// "official FOLDER [...]" runs our models side by side with the TorchScript-traced official graphs (see that class).
if (args.Length > 0 && args[0] == InterleavedSharedWork.Verb)
    InterleavedSharedWork.Run(args[1..]);
else if (args.Length > 0 && args[0] == OfficialSideBySide.Verb)
    OfficialSideBySide.Run(args[1..]);
else
    BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
