using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Metrics;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Data;

public class DegradationTests
{
    private readonly ITestOutputHelper _output;

    public DegradationTests(ITestOutputHelper output) => _output = output;

    private static Tensor MidGrey(double value = 0.5) => torch.full(new long[] { 1, 3, 64, 64 }, value, dtype: ScalarType.Float32);

    private static (double Mean, double Std) ResidualStats(Tensor noisy, Tensor clean)
    {
        using var r = (noisy - clean).to(ScalarType.Float64) * 255.0;
        return (r.mean().item<double>(), r.std().item<double>());
    }

    [Theory]
    [InlineData(15)]
    [InlineData(25)]
    [InlineData(50)]
    public void Noise_without_quantisation_has_sigma_within_5_percent(double sigma)
    {
        // No clipping either, so σ is measured without any clipping effect (12,288 samples: the std estimate's
        // relative standard error is 1/sqrt(2n) ≈ 0.6%, so 5% is about 8 standard errors).
        using var clean = MidGrey();
        using var noisy = new GaussianNoise(sigma, quantize: false, clip: false).Apply(clean, seed: 11);
        var (mean, std) = ResidualStats(noisy, clean);
        _output.WriteLine($"sigma {sigma}: measured {std:F3} (relative error {(std - sigma) / sigma:P2}), mean {mean:F3}");
        Assert.InRange(std, sigma * 0.95, sigma * 1.05);
        Assert.InRange(mean, -0.1 * sigma, 0.1 * sigma);
    }

    [Theory]
    [InlineData(15)]
    [InlineData(25)]
    public void Quantised_noise_is_8bit_truncated_with_the_expected_spread(double sigma)
    {
        // Clean 128/255 (an 8-bit value); clipping is > 5σ away. Truncation adds U(-1,0] in 8-bit units: mean −0.5,
        // variance 1/12, so std = sqrt(σ² + 1/12) (documented bound: within 5% of that).
        using var clean = MidGrey(128 / 255.0);
        using var noisy = new GaussianNoise(sigma).Apply(clean, seed: 5);
        var (mean, std) = ResidualStats(noisy, clean);
        double expected = Math.Sqrt(sigma * sigma + 1.0 / 12);
        _output.WriteLine($"quantised sigma {sigma}: measured {std:F3} vs {expected:F3} ({(std - expected) / expected:P2}), mean {mean:F3} (expected -0.5)");
        Assert.InRange(std, expected * 0.95, expected * 1.05);
        // Standard error of the mean is σ/sqrt(12288) ≈ 0.23 at σ=25; allow 4 of them around −0.5.
        Assert.InRange(mean, -0.5 - 4 * sigma / Math.Sqrt(12288), -0.5 + 4 * sigma / Math.Sqrt(12288));
        using var scaled = noisy.to(ScalarType.Float64) * 255.0;
        using var frac = (scaled - scaled.round()).abs();
        Assert.True(frac.max().item<double>() < 1e-3, "every noisy value must be an integer / 255");
        Assert.True(noisy.min().item<float>() >= 0 && noisy.max().item<float>() <= 1);
    }

    [Fact]
    public void Haze_is_monotone_in_beta_and_in_depth()
    {
        using var g = new torch.Generator(3);
        using var clean = torch.rand(new long[] { 1, 3, 16, 16 }, generator: g) * 0.6;
        using var depth = torch.full(new long[] { 1, 1, 16, 16 }, 0.5);
        double[] a = { 0.9 };
        using var weak = Haze.Scatter(clean, depth, new[] { 0.5 }, a);
        using var strong = Haze.Scatter(clean, depth, new[] { 1.5 }, a);
        using var distWeak = (weak - 0.9).abs();
        using var distStrong = (strong - 0.9).abs();
        // Larger β → every pixel strictly closer to the airlight (J ≤ 0.6 < A, so J ≠ A everywhere).
        Assert.True((distStrong < distWeak).all().item<bool>());

        using var near = torch.full(new long[] { 1, 1, 16, 16 }, 0.2);
        using var far = torch.full(new long[] { 1, 1, 16, 16 }, 0.8);
        using var hazeNear = Haze.Scatter(clean, near, new[] { 1.0 }, a);
        using var hazeFar = Haze.Scatter(clean, far, new[] { 1.0 }, a);
        using var dNear = (hazeNear - 0.9).abs();
        using var dFar = (hazeFar - 0.9).abs();
        Assert.True((dFar < dNear).all().item<bool>());
    }

    [Fact]
    public void Haze_depth_proxy_on_a_uniform_image_matches_hand_values()
    {
        // J = 0.2 everywhere, A = 1, β = 1. Luminance 0.2 everywhere, so d = 0.6·v + 0.4·0.2 with v = 1 at the top row
        // and 0 at the bottom: top I = 1 − 0.8·e^−0.68 = 0.594700, bottom I = 1 − 0.8·e^−0.08 = 0.261507.
        using var clean = torch.full(new long[] { 1, 3, 11, 9 }, 0.2);
        using var hazy = new Haze(ParameterRange.Fixed(1.0), ParameterRange.Fixed(1.0)).Apply(clean, seed: 1);
        Assert.Equal(1 - 0.8 * Math.Exp(-0.68), hazy[0, 0, 0, 4].item<float>(), 5);
        Assert.Equal(1 - 0.8 * Math.Exp(-0.08), hazy[0, 1, 10, 4].item<float>(), 5);
    }

    [Fact]
    public void Blur_kernels_sum_to_one_and_keep_a_constant_image_constant()
    {
        var random = Enumerable.Range(0, 129).Select(i => (i * 0.618034) % 1.0).ToArray();
        foreach (var kernel in new[] { BlurKernels.Gaussian(1.3), BlurKernels.Disk(2.5), BlurKernels.Motion(15, 11, random) })
        {
            double sum = 0;
            foreach (var v in kernel) { sum += v; Assert.True(v >= 0); }
            Assert.Equal(1.0, sum, 12);
        }
        using var constant = torch.full(new long[] { 2, 3, 20, 20 }, 0.37);
        foreach (IDegradation blur in new IDegradation[] { new GaussianBlur(), new DefocusBlur(), new MotionBlur(), new MotionBlur(padding: BlurPadding.Replicate) })
        {
            using var blurred = blur.Apply(constant, seed: 4);
            Assert.Equal(constant.shape, blurred.shape);
            Assert.True((blurred - 0.37).abs().max().item<float>() < 1e-6, $"{blur.Name} changed a constant image");
        }
    }

    [Fact]
    public void Blur_reduces_the_variance_of_a_checkerboard()
    {
        using var board = (torch.arange(16).reshape(16, 1) + torch.arange(16).reshape(1, 16)).remainder(2).to(ScalarType.Float32).expand(1, 3, 16, 16).contiguous();
        using var blurred = new GaussianBlur(ParameterRange.Fixed(1.5)).Apply(board, seed: 1);
        Assert.True(blurred.var().item<float>() < 0.1 * board.var().item<float>());
    }

    [Fact]
    public void LowLight_with_gamma_one_scales_the_mean_by_the_exposure()
    {
        using var g = new torch.Generator(9);
        using var clean = torch.rand(new long[] { 2, 3, 16, 16 }, generator: g);
        var dark = new LowLight(ParameterRange.Fixed(0.3), ParameterRange.Fixed(1.0), ParameterRange.Fixed(0));
        using var result = dark.Apply(clean, seed: 2);
        Assert.Equal(0.3 * clean.mean().item<float>(), result.mean().item<float>(), 5);
        using var gamma2 = new LowLight(ParameterRange.Fixed(0.3), ParameterRange.Fixed(2.0), ParameterRange.Fixed(0)).Apply(clean, seed: 2);
        Assert.True((gamma2 <= result + 1e-7).all().item<bool>()); // x² ≤ x on [0,1]
    }

    [Fact]
    public void Jpeg_at_quality_90_changes_the_image_but_keeps_psnr_above_25_dB()
    {
        // A smooth colour gradient plus mild texture: at q=90 the luminance quantisation steps are a few grey levels,
        // so the RMS error is a few levels (~35–45 dB); 25 dB (RMS ≈ 14 levels) is a safe floor.
        using var yy = torch.linspace(0, 1, 32).reshape(1, 1, 32, 1);
        using var xx = torch.linspace(0, 1, 32).reshape(1, 1, 1, 32);
        using var texture = torch.sin(xx * 20) * torch.cos(yy * 13) * 0.1;
        using var clean = torch.cat(new[] { (yy * 0.8 + texture + 0.1).expand(1, 1, 32, 32), (xx * 0.7 + 0.15).expand(1, 1, 32, 32), ((xx + yy) * 0.4 + 0.1 - texture).expand(1, 1, 32, 32) }, 1).clamp(0, 1);
        using var q = EvaluationQuantize(clean);
        using var jpeg = new JpegCompression(ParameterRange.Fixed(90)).Apply(q, seed: 1);
        double psnr = Psnr.Compute(jpeg, q);
        _output.WriteLine($"JPEG q=90 PSNR {psnr:F2} dB");
        Assert.True((jpeg - q).abs().max().item<float>() > 0);
        Assert.True(psnr > 25, $"PSNR {psnr}");
    }

    internal static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static Tensor EvaluationQuantize(Tensor x) => (x * 255).round() / 255;

    [Fact]
    public void Every_generator_is_deterministic_under_its_seed()
    {
        using var g = new torch.Generator(21);
        using var clean = torch.rand(new long[] { 2, 3, 24, 24 }, generator: g);
        foreach (var name in DegradationRegistry.GeneratorNames)
        {
            var d = DegradationRegistry.Create(name);
            using var a = d.Apply(clean, seed: 7);
            using var b = d.Apply(clean, seed: 7);
            Assert.True(Same(a, b), $"{name}: same seed gave different outputs");
            Assert.Equal(clean.shape, a.shape);
            Assert.True(a.min().item<float>() >= 0 && a.max().item<float>() <= 1, $"{name}: out of [0,1]");
            if (d is JpegCompression)
            {
                // JPEG is deterministic given its quality; only the quality is random, so compare several seeds.
                var outputs = Enumerable.Range(1, 6).Select(s => d.Apply(clean, seed: s)).ToList();
                Assert.Contains(outputs.Skip(1), o => !Same(o, outputs[0]));
                outputs.ForEach(o => o.Dispose());
            }
            else
            {
                using var c = d.Apply(clean, seed: 8);
                Assert.False(Same(a, c), $"{name}: different seeds gave identical outputs");
            }
        }
    }

    [Fact]
    public void Registry_maps_names_to_official_ids()
    {
        var expected = new (string, int)[] { ("denoise_15", 0), ("denoise_25", 1), ("denoise_50", 2), ("derain", 3), ("dehaze", 4), ("deblur", 5), ("lowlight", 6) };
        foreach (var (name, id) in expected)
        {
            Assert.Equal(id, DegradationRegistry.GetTaskId(name));
            Assert.Equal(name, DegradationRegistry.GetTaskName(id));
            var d = DegradationRegistry.Create(name);
            Assert.Equal(id, d.TaskId);
            Assert.Equal(name, d.Name);
        }
        Assert.Equal(7, DegradationRegistry.GetTaskId("single"));
        Assert.Equal("single", DegradationRegistry.GetTaskName(7));
        Assert.Equal(25, ((GaussianNoise)DegradationRegistry.Create("denoise_25")).Sigma);
        var unknown = Assert.Throws<DaRcotException>(() => DegradationRegistry.Create("desnow"));
        Assert.Contains("desnow", unknown.Message);
        Assert.Contains("denoise_25", unknown.Message);
        Assert.Contains("lowlight", unknown.Message);
        Assert.Throws<DaRcotException>(() => DegradationRegistry.GetTaskId("desnow"));
        Assert.Throws<DaRcotException>(() => DegradationRegistry.Create("single"));
    }

    [Fact]
    public void Rain_adds_bright_streaks_only()
    {
        using var clean = torch.full(new long[] { 1, 3, 32, 32 }, 0.3);
        using var rainy = new RainStreaks(density: ParameterRange.Fixed(0.01)).Apply(clean, seed: 3);
        Assert.True((rainy >= clean - 1e-7).all().item<bool>());
        Assert.True(rainy.max().item<float>() > 0.5f);
        Assert.True((rainy - clean).abs().gt(1e-3).to(ScalarType.Float32).mean().item<float>() > 0.02f);
    }

    [Fact]
    public void Rejects_a_non_batched_tensor()
    {
        using var chw = torch.zeros(3, 8, 8);
        Assert.Throws<TensorArgumentException>(() => new GaussianNoise(25).Apply(chw, seed: 1));
    }
}
