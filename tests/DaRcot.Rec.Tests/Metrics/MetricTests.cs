using DaRcot.Rec.Errors;
using DaRcot.Rec.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Metrics;

/// <summary>Hand-checked PSNR/SSIM/luma values, batching and argument errors.</summary>
public sealed class MetricTests
{
    private static Tensor Random(long seed, params long[] shape)
    {
        var g = new torch.Generator((ulong)seed);
        return torch.rand(shape, generator: g, dtype: ScalarType.Float64);
    }

    // ------------------------------------------------------------------ PSNR

    [Fact]
    public void Psnr_ConstantOffset01_Is20dB()
    {
        using var scope = torch.NewDisposeScope();
        var reference = Random(1, 2, 3, 8, 9) * 0.8;
        // MSE = 0.01 → 10·log10(1/0.01) = 20 dB
        Assert.Equal(20.0, Psnr.Compute(reference + 0.1, reference), 9);
        // Same offset on a 0..255 scale: MSE = 25.5² → 10·log10(255²/25.5²) = 20 dB
        Assert.Equal(20.0, Psnr.Compute((reference + 0.1) * 255, reference * 255, dataRange: 255), 9);
    }

    [Fact]
    public void Psnr_Batch_IsPerSample_AndComputeIsTheirMean()
    {
        using var scope = torch.NewDisposeScope();
        var reference = torch.full(new long[] { 2, 1, 4, 4 }, 0.5, ScalarType.Float64);
        var offsets = torch.tensor(new double[] { 0.1, 0.01 }).reshape(2, 1, 1, 1);
        var restored = reference + offsets; // MSE 1e-2 and 1e-4 → 20 dB and 40 dB
        var batch = Psnr.ComputeBatch(restored, reference);
        Assert.Equal(new long[] { 2 }, batch.shape);
        Assert.Equal(ScalarType.Float64, batch.dtype);
        Assert.Equal(20.0, batch[0].item<double>(), 9);
        Assert.Equal(40.0, batch[1].item<double>(), 9);
        Assert.Equal(30.0, Psnr.Compute(restored, reference), 9);
    }

    [Fact]
    public void Psnr_IdenticalImages_IsPositiveInfinity()
    {
        using var scope = torch.NewDisposeScope();
        var x = Random(2, 3, 5, 5);
        Assert.Equal(double.PositiveInfinity, Psnr.Compute(x, x.clone()));
    }

    [Fact]
    public void Psnr_Float32AndChwInput_Accepted()
    {
        using var scope = torch.NewDisposeScope();
        var reference = torch.zeros(3, 4, 4);                    // [C,H,W] float32
        var restored = torch.full(new long[] { 3, 4, 4 }, 0.25f); // MSE 1/16 → 10·log10(16) = 12.0412 dB
        var batch = Psnr.ComputeBatch(restored, reference);
        Assert.Equal(new long[] { 1 }, batch.shape);
        Assert.Equal(10 * Math.Log10(16), batch[0].item<double>(), 9);
    }

    // ------------------------------------------------------------------ SSIM

    [Theory]
    [InlineData(SsimVariant.SkimageDefault)]
    [InlineData(SsimVariant.Gaussian)]
    public void Ssim_IdenticalImages_IsOne(SsimVariant variant)
    {
        using var scope = torch.NewDisposeScope();
        var x = Random(3, 2, 3, 16, 15);
        Assert.Equal(1.0, Ssim.Compute(x, x.clone(), variant), 12);
    }

    [Theory]
    [InlineData(SsimVariant.SkimageDefault)]
    [InlineData(SsimVariant.Gaussian)]
    public void Ssim_ConstantImages_IsLuminanceTermOnly(SsimVariant variant)
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.full(new long[] { 1, 1, 12, 12 }, 0.5, ScalarType.Float64);
        var b = torch.full(new long[] { 1, 1, 12, 12 }, 0.25, ScalarType.Float64);
        // All variances vanish: SSIM = (2ab + C1) / (a² + b² + C1) with C1 = 1e-4 → 0.2501 / 0.3126
        Assert.Equal(0.2501 / 0.3126, Ssim.Compute(a, b, variant), 12);
    }

    [Fact]
    public void Ssim_Default_MatchesBruteForceSampleCovarianceOverEveryWindow()
    {
        using var scope = torch.NewDisposeScope();
        var x = Random(4, 1, 1, 10, 9);
        var y = (x * 0.7 + Random(5, 1, 1, 10, 9) * 0.3).clamp(0, 1);
        var taps = Enumerable.Repeat(1.0 / 7, 7).ToArray();
        Assert.Equal(BruteForce(x, y, taps, sampleCovariance: true), Ssim.Compute(x, y), 12);
    }

    [Fact]
    public void Ssim_Gaussian_MatchesBruteForcePopulationCovarianceOverEveryWindow()
    {
        using var scope = torch.NewDisposeScope();
        var x = Random(6, 1, 1, 13, 14);
        var y = (1 - x) * 0.4 + Random(7, 1, 1, 13, 14) * 0.6;
        // scipy gaussian_filter(sigma=1.5, truncate=3.5): radius int(5.25 + 0.5) = 5, taps exp(-k²/4.5) normalised
        var raw = Enumerable.Range(-5, 11).Select(k => Math.Exp(-k * k / 4.5)).ToArray();
        var taps = raw.Select(v => v / raw.Sum()).ToArray();
        Assert.Equal(BruteForce(x, y, taps, sampleCovariance: false), Ssim.Compute(x, y, SsimVariant.Gaussian), 12);
    }

    [Fact]
    public void Ssim_MultiChannel_IsMeanOfChannels_AndBatchIsPerSample()
    {
        using var scope = torch.NewDisposeScope();
        var x = Random(8, 2, 3, 9, 9);
        var y = (x + Random(9, 2, 3, 9, 9) * 0.2).clamp(0, 1);
        var batch = Ssim.ComputeBatch(x, y);
        Assert.Equal(new long[] { 2 }, batch.shape);
        for (int n = 0; n < 2; n++)
        {
            var perChannel = Enumerable.Range(0, 3).Select(c => Ssim.Compute(x[n, c].unsqueeze(0), y[n, c].unsqueeze(0))).Average();
            Assert.Equal(perChannel, batch[n].item<double>(), 12);
        }
        Assert.Equal((batch[0].item<double>() + batch[1].item<double>()) / 2, Ssim.Compute(x, y), 12);
    }

    /// <summary>
    /// SSIM by definition: for every window position fully inside the image, weighted means, (co)variances and the
    /// SSIM formula; the result is their plain average. Written with loops, independent of the library's convolutions.
    /// </summary>
    private static double BruteForce(Tensor xs, Tensor ys, double[] taps, bool sampleCovariance)
    {
        int h = (int)xs.shape[2], w = (int)xs.shape[3], k = taps.Length;
        var x = xs.contiguous().data<double>().ToArray();
        var y = ys.contiguous().data<double>().ToArray();
        double norm = sampleCovariance ? (double)(k * k) / (k * k - 1) : 1.0;
        const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
        double total = 0;
        int count = 0;
        for (int top = 0; top + k <= h; top++)
            for (int left = 0; left + k <= w; left++)
            {
                double mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++)
                    {
                        double wt = taps[i] * taps[j];
                        double a = x[(top + i) * w + left + j], b = y[(top + i) * w + left + j];
                        mx += wt * a; my += wt * b; mxx += wt * a * a; myy += wt * b * b; mxy += wt * a * b;
                    }
                double vx = norm * (mxx - mx * mx), vy = norm * (myy - my * my), vxy = norm * (mxy - mx * my);
                total += (2 * mx * my + c1) * (2 * vxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
                count++;
            }
        return total / count;
    }

    // ------------------------------------------------------------------ luma

    [Fact]
    public void RgbToY_Bt601_HandValues()
    {
        using var scope = torch.NewDisposeScope();
        // pixels: white, black, pure red, pure green (as [1,3,1,4])
        var rgb = torch.tensor(new double[] { 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0 }, new long[] { 1, 3, 1, 4 });
        var y = ColorSpaces.RgbToY(rgb);
        Assert.Equal(new long[] { 1, 1, 1, 4 }, y.shape);
        Assert.Equal(235.0 / 255, y[0, 0, 0, 0].item<double>(), 12);
        Assert.Equal(16.0 / 255, y[0, 0, 0, 1].item<double>(), 12);
        Assert.Equal((65.481 + 16) / 255, y[0, 0, 0, 2].item<double>(), 12);
        Assert.Equal((128.553 + 16) / 255, y[0, 0, 0, 3].item<double>(), 12);
        Assert.Equal(new long[] { 1, 1, 5, 6 }, ColorSpaces.RgbToY(torch.zeros(3, 5, 6)).shape);
        Assert.Throws<TensorArgumentException>(() => ColorSpaces.RgbToY(torch.zeros(1, 1, 5, 6)));
    }

    // ------------------------------------------------------------------ errors

    [Fact]
    public void ShapeMismatch_NamesArgumentAndBothShapes()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.zeros(1, 3, 8, 8);
        var b = torch.zeros(1, 3, 8, 9);
        var ex = Assert.Throws<TensorArgumentException>(() => Psnr.Compute(a, b));
        Assert.Equal("restored", ex.Argument);
        Assert.Contains("[1,3,8,8]", ex.Message);
        Assert.Contains("[1,3,8,9]", ex.Message);
        Assert.Throws<TensorArgumentException>(() => Ssim.Compute(a, b));
        Assert.Throws<TensorArgumentException>(() => Ssim.ComputeBatch(a, b, SsimVariant.Gaussian));
    }

    [Theory]
    [InlineData(double.NaN, "restored")]
    [InlineData(double.PositiveInfinity, "restored")]
    [InlineData(double.NaN, "reference")]
    public void NonFiniteInput_NamesTheArgument(double bad, string argument)
    {
        using var scope = torch.NewDisposeScope();
        var good = torch.zeros(new long[] { 1, 1, 8, 8 }, ScalarType.Float64);
        var poisoned = good.clone();
        poisoned[0, 0, 3, 4] = torch.tensor(bad);
        var (restored, reference) = argument == "restored" ? (poisoned, good) : (good, poisoned);
        var ex = Assert.Throws<TensorArgumentException>(() => Psnr.Compute(restored, reference));
        Assert.Equal(argument, ex.Argument);
        Assert.Contains("NaN or infinite", ex.Message);
        Assert.Equal(argument, Assert.Throws<TensorArgumentException>(() => Ssim.Compute(restored, reference)).Argument);
    }

    [Fact]
    public void WrongRank_And_TooSmallForWindow_Throw()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Throws<TensorArgumentException>(() => Psnr.Compute(torch.zeros(8, 8), torch.zeros(8, 8)));
        var small = torch.zeros(1, 1, 10, 10);
        Assert.True(Ssim.Compute(small, small.clone()) > 0.99); // 10x10 is enough for 7x7
        var ex = Assert.Throws<TensorArgumentException>(() => Ssim.Compute(small, small.clone(), SsimVariant.Gaussian));
        Assert.Contains("11x11", ex.Message);
    }
}
