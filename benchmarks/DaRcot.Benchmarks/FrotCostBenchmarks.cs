using BenchmarkDotNet.Attributes;
using DaRcot.Rec.Objectives;
using static TorchSharp.torch;

namespace DaRcot.Benchmarks;

/// <summary>
/// Suite 4: the FROT transport cost on a 4×3×128×128 batch, forward and forward+backward (the gradient reaches a
/// leaf standing in for T(x)), next to the paired L1 term for scale. Task ids mix both Fourier penalties
/// (0, 1 use the L2 type; 3, 4 the L1 type).
/// </summary>
[Config(typeof(OpJobConfig))]
public class FrotCostBenchmarks
{
    private static readonly long[] TaskIds = [0, 3, 1, 4];
    private readonly FrotCost _frot = new();
    private readonly PairedCost _paired = new();
    private Tensor _degraded = null!, _restored = null!, _clean = null!;

    [GlobalSetup]
    public void Setup()
    {
        BenchSetup.Init();
        _clean = rand(4, 3, 128, 128);
        _degraded = (_clean + 0.1 * randn(4, 3, 128, 128)).clamp(0, 1);
        _restored = (_clean + 0.02 * randn(4, 3, 128, 128)).requires_grad_(true);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _degraded.Dispose();
        _restored.Dispose();
        _clean.Dispose();
    }

    [Benchmark]
    public void FrotForward()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var terms = _frot.Compute(_degraded, _restored, TaskIds);
    }

    [Benchmark(Baseline = true)]
    public void FrotForwardBackward()
    {
        using var scope = NewDisposeScope();
        using var terms = _frot.Compute(_degraded, _restored, TaskIds);
        terms.Total.backward();
        _restored.grad?.zero_();
    }

    [Benchmark]
    public void PairedL1ForwardBackward()
    {
        using var scope = NewDisposeScope();
        _paired.Compute(_restored, _clean).backward();
        _restored.grad?.zero_();
    }
}
