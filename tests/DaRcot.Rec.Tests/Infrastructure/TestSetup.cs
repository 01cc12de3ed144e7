using System.Runtime.CompilerServices;
using TorchSharp;

namespace DaRcot.Rec.Tests.Infrastructure;

internal static class TestSetup
{
    /// <summary>
    /// xunit runs test classes in parallel (one per core). libtorch's own intra-op threads on top of that
    /// oversubscribe a small machine and its spinning workers then slow every test down many times over, so each
    /// test runs torch single-threaded.
    /// </summary>
    [ModuleInitializer]
    internal static void SingleThreadedTorch() => torch.set_num_threads(1);
}
