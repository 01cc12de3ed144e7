using BenchmarkDotNet.Running;

// Runs every benchmark suite in this assembly; pick one with --filter, e.g. --filter *Restormer*.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
