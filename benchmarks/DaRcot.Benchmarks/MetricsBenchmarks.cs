using BenchmarkDotNet.Attributes;
using DaRcot.Rec.Metrics;
using static TorchSharp.torch;

namespace DaRcot.Benchmarks;

/// <summary>Suite 3: our PSNR and SSIM on one 512×512 RGB pair (float32 in [0,1]; SSIM computes in float64).</summary>
[Config(typeof(OpJobConfig))]
public class MetricsBenchmarks
{
    private Tensor _restored = null!, _reference = null!;

    [GlobalSetup]
    public void Setup()
    {
        BenchSetup.Init();
        _reference = rand(1, 3, 512, 512);
        // A realistic pair: reference plus mild noise, clamped like a saved image.
        _restored = (_reference + 0.05 * randn(1, 3, 512, 512)).clamp(0, 1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _restored.Dispose();
        _reference.Dispose();
    }

    [Benchmark(Baseline = true)]
    public double Psnr512() => Psnr.Compute(_restored, _reference);

    [Benchmark]
    public double SsimSkimage512() => Ssim.Compute(_restored, _reference, SsimVariant.SkimageDefault);

    [Benchmark]
    public double SsimGaussian512() => Ssim.Compute(_restored, _reference, SsimVariant.Gaussian);
}
