using TorchSharp;

namespace DaRcot.Rec.Tests.Infrastructure;

/// <summary>
/// Tests that choose libtorch's intra-op thread count. The count is process-wide, so these tests run alone, after the
/// parallel ones: no other test can change it under them, and theirs cannot leak into other tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadCountCollection
{
    public const string Name = "libtorch thread count";
}

/// <summary>Sets libtorch's thread count until disposed.</summary>
public sealed class TorchThreads : IDisposable
{
    private readonly int _previous;

    private TorchThreads(int threads)
    {
        _previous = torch.get_num_threads();
        torch.set_num_threads(threads);
    }

    public static TorchThreads Use(int threads) => new(threads);

    public void Dispose() => torch.set_num_threads(_previous);
}
