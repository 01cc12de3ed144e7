using System.Runtime.CompilerServices;
using DaRcot.Rec.Runtime;

namespace DaRcot.Rec.Tests.Infrastructure;

internal static class TestSetup
{
    /// <summary>
    /// xunit runs test classes in parallel (one per core). libtorch's own intra-op threads on top of that
    /// oversubscribe a small machine and its spinning OpenMP workers then slow every test down many times over
    /// (measured: a tiny DA-RCOT step went from ~0.1 s to 1-11 s on a loaded 2-core machine), so parallel tests run
    /// libtorch single-threaded. Thread counts themselves are tested where they matter: the realistic-size parity
    /// cases at 1, 2 and 4 threads and the stress tests at 2 threads run in <see cref="ThreadCountCollection"/>,
    /// alone, with the count set explicitly.
    /// </summary>
    [ModuleInitializer]
    internal static void SingleThreadedWhileParallel() => TorchRuntime.Configure(new TorchRuntimeOptions { Threads = 1 });
}
