using DaRcot.Rec.Metrics;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;

namespace DaRcot.Rec.Tests.Metrics;

/// <summary>Every value of <c>metrics/expected.json</c> (scikit-image 0.19.3) reproduced within its tolerance.</summary>
public sealed class MetricParityTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Pairs() => MetricFixtures.CaseMetricPairs();

    [SkippableTheory]
    [MemberData(nameof(Pairs))]
    public void MatchesScikitImage(int caseIndex, string metric)
    {
        Fixtures.Path("metrics", "expected.json"); // skips here when the fixtures are absent
        var c = MetricFixtures.Cases()[caseIndex];
        using var scope = torch.NewDisposeScope();
        var clean = MetricFixtures.Image(c.Clean);
        var degraded = MetricFixtures.Image(c.Degraded);
        // skimage was called as metric(clean, degraded); PSNR and SSIM are symmetric, so argument order is immaterial.
        double actual = metric switch
        {
            "psnr" => Psnr.Compute(degraded, clean),
            "ssim_skimage_default" => Ssim.Compute(degraded, clean),
            "ssim_gaussian" => Ssim.Compute(degraded, clean, SsimVariant.Gaussian),
            "psnr_y" => Psnr.Compute(ColorSpaces.RgbToY(degraded), ColorSpaces.RgbToY(clean)),
            "ssim_y_gaussian" => Ssim.Compute(ColorSpaces.RgbToY(degraded), ColorSpaces.RgbToY(clean), SsimVariant.Gaussian),
            _ => throw new ArgumentException(metric),
        };
        double expected = c.Expected[metric];
        output.WriteLine($"{c.Degraded} {metric}: expected {expected:R}, got {actual:R}, |diff| {Math.Abs(actual - expected):E3}");
        double tol = metric.StartsWith("psnr") ? c.PsnrTol : c.SsimTol;
        Assert.True(Math.Abs(actual - expected) <= tol,
            $"{c.Degraded} {metric}: expected {expected:R}, got {actual:R} (|diff| {Math.Abs(actual - expected):E2} > {tol})");
    }
}
