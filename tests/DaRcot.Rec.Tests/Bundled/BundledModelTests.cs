using DaRcot.Cli;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Evaluation;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Bundled;

/// <summary>The all-in-one model bundled with the library: it loads strictly from the assembly, really restores a photo
/// it was not trained on, and is what <c>darcot restore</c> uses when no model is named.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class BundledModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly ITestOutputHelper _output = output;
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-bundled-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Embedded_weights_load_strictly_into_the_bundled_architecture_in_eval_mode()
    {
        Assert.True(BundledModel.IsAvailable);
        long resourceBytes;
        using (var s = BundledModel.OpenWeights()) resourceBytes = s.Length;
        Assert.InRange(resourceBytes, 100_000, 2 * 1024 * 1024);

        var (model, info) = BundledModel.Load();
        using (model)
        {
            Assert.False(model.training);
            Assert.Equal(BundledModel.ArchName, info.Arch);
            Assert.Equal(8, info.SizeMultiple);
            Assert.Equal(PadMode.Reflect, info.PadMode);
            Assert.Equal(3, info.InputChannels);

            // Every stored tensor equals the model entry of the same name (strict loading copied all of them), and the
            // file holds float32 values only: 4 bytes per parameter plus a small header.
            var path = Path.Combine(_dir, "w.safetensors");
            using (var s = BundledModel.OpenWeights())
            using (var f = File.Create(path)) s.CopyTo(f);
            var stored = SafetensorsFile.Read(path);
            try
            {
                var entries = model.state_dict();
                Assert.Equal(entries.Keys.Order(StringComparer.Ordinal), stored.Keys.Order(StringComparer.Ordinal));
                foreach (var (name, t) in stored)
                {
                    Assert.Equal(ScalarType.Float32, t.dtype);
                    Assert.True(t.allclose(entries[name], rtol: 0, atol: 0), name);
                }
                var elements = stored.Values.Sum(t => t.numel());
                Assert.InRange(resourceBytes - 4 * elements, 1, 64 * 1024);
            }
            finally
            {
                foreach (var t in stored.Values) t.Dispose();
            }
        }
    }

    [SkippableFact]
    public void Denoises_a_held_out_photo_at_sigma_25()
    {
        // chelsea.png is held out of the bundled model's training set (samples/models/config.json).
        using var full = ImageTensor.Load(Fixtures.Path("images", "chelsea.png"));
        using var scope = NewDisposeScope();
        // A 96×100 crop around the cat's face: not a multiple of 8, so padding and cropping back are exercised too.
        var clean = full[.., .., 100..196, 150..250].contiguous();
        using var gen = new torch.Generator(7, torch.CPU);
        var noisy = new GaussianNoise(25).Apply(clean, gen);
        var (model, _) = BundledModel.Load();
        using (model)
        {
            Tensor restored;
            using (no_grad()) restored = model.forward(noisy).clamp(0, 1);
            Assert.Equal(clean.shape, restored.shape);
            var noisyPsnr = IndependentMetrics.Psnr(noisy, clean);
            var restoredPsnr = IndependentMetrics.Psnr(restored, clean);
            // σ = 25 noise on 8 bit is about 20.3 dB; measured on this crop when the model was trained: see MODEL_CARD.md.
            Assert.InRange(noisyPsnr, 19.5, 21.5);
            Assert.True(restoredPsnr - noisyPsnr >= MinimumGainDb, $"noisy {noisyPsnr:F2} dB, restored {restoredPsnr:F2} dB");
        }
    }

    /// <summary>Every degradation of the bundled all-in-one model on the same held-out crop (seed 7, 8-bit in and out):
    /// the gain must stay above about half of what was measured when the model was shipped (values in the comments).</summary>
    [SkippableTheory]
    [InlineData("denoise_25", 5.0)]   // measured +6.85 dB (20.47 → 27.32); 5 dB is the product's promise at σ 25
    [InlineData("derain", 4.0)]       // measured +9.64 dB (15.72 → 25.36)
    [InlineData("dehaze", 3.0)]       // measured +7.77 dB (15.93 → 23.69)
    [InlineData("deblur", -1.5)]      // measured −0.60 dB (27.63 → 27.03): blur is NOT improved (MODEL_CARD); this only bounds the loss
    [InlineData("lowlight", 6.0)]     // measured +13.71 dB (9.05 → 22.76)
    public void Restores_each_degradation_of_a_held_out_photo(string task, double minimumGainDb)
    {
        var (model, _) = BundledModel.Load();
        using (model)
        {
            var (before, after) = HeldOutCropPsnr(model, task);
            _output.WriteLine($"{task}: {before:F2} dB -> {after:F2} dB ({after - before:+0.00;-0.00} dB)");
            Assert.True(after - before >= minimumGainDb, $"{task}: degraded {before:F2} dB, restored {after:F2} dB, gain below {minimumGainDb} dB");
        }
    }

    /// <summary>PSNR of <paramref name="task"/> on the held-out crop (96×100 of chelsea.png, seed 7, 8-bit in and out),
    /// degraded and restored by <paramref name="model"/>.</summary>
    private static (double Degraded, double Restored) HeldOutCropPsnr(nn.Module<Tensor, Tensor> model, string task)
    {
        using var full = ImageTensor.Load(Fixtures.Path("images", "chelsea.png"));
        using var scope = NewDisposeScope();
        var clean = full[.., .., 100..196, 150..250].contiguous();
        var degraded = EvaluationRunner.Quantize8(DegradationRegistry.Create(task).Apply(clean, 7L));
        Tensor restored;
        using (no_grad()) restored = EvaluationRunner.Quantize8(model.forward(degraded));
        return (IndependentMetrics.Psnr(degraded, clean), IndependentMetrics.Psnr(restored, clean));
    }

    /// <summary>What the bundled model claims is exactly what it is shown to improve: every claimed degradation gains on
    /// the held-out crop above by at least 3 dB (measured: noise σ 15 +4.74, σ 25 +6.85, σ 50 +7.98, rain +9.64, haze
    /// +7.77, low light +13.71 dB), and motion blur, which it does not improve, is not claimed.</summary>
    [SkippableFact]
    public void Improves_every_degradation_it_claims_and_claims_no_blur()
    {
        Assert.DoesNotContain("deblur", BundledModel.ClaimedTasks);
        Assert.Equal(6, BundledModel.ClaimedTasks.Count);
        var (model, _) = BundledModel.Load();
        using (model)
            foreach (var task in BundledModel.ClaimedTasks)
            {
                var (before, after) = HeldOutCropPsnr(model, task);
                _output.WriteLine($"{task}: {after - before:+0.00;-0.00} dB");
                Assert.True(after - before >= 3.0, $"{task} is claimed but gains only {after - before:F2} dB on the held-out crop");
            }
    }

    /// <summary>Conservative margin under the gain measured on the crop above (see MODEL_CARD.md).</summary>
    private const double MinimumGainDb = 6.0;

    /// <summary>The bundled model pads by reflection, not with NAFNet's zeros: it never saw a padded patch in training,
    /// and a black band beyond the border of a photo whose sides are not multiples of 8 (451×300 here) is restored as
    /// if it were part of the degradation. The band next to the padded borders must come out clearly better with the
    /// shipped padding than with zeros (same weights).</summary>
    [SkippableTheory]
    [InlineData("dehaze", 0.5)]  // measured reflect 18.61 dB vs zero 17.44 dB (+1.17)
    [InlineData("deblur", 3.5)]  // measured reflect 35.95 dB vs zero 28.52 dB (+7.43)
    public void Reflect_padding_restores_the_borders_better_than_zero_padding(string task, double minimumDb)
    {
        using var clean = ImageTensor.Load(Fixtures.Path("images", "chelsea.png"));
        using var scope = NewDisposeScope();
        var degraded = EvaluationRunner.Quantize8(DegradationRegistry.Create(task).Apply(clean, 7L));
        var (model, info) = BundledModel.Load();
        using (model)
        using (var zeroPadded = RecModels.NAFNetRec(BundledModel.BackboneConfig, BundledModel.RecOptions with { PadMode = PadMode.Zero }))
        {
            Assert.Equal(PadMode.Reflect, info.PadMode);
            zeroPadded.load_state_dict(model.state_dict());
            zeroPadded.eval();
            Tensor reflect, zero;
            using (no_grad())
            {
                reflect = EvaluationRunner.Quantize8(model.forward(degraded));
                zero = EvaluationRunner.Quantize8(zeroPadded.forward(degraded));
            }
            // 451 = 56·8 + 3 columns and 300 = 37·8 + 4 rows: both borders are padded. Score the 16-pixel bands there.
            double Band(Tensor x) => (IndependentMetrics.Psnr(x[.., .., .., ^16..], clean[.., .., .., ^16..])
                                     + IndependentMetrics.Psnr(x[.., .., ^16.., ..], clean[.., .., ^16.., ..])) / 2;
            double reflectDb = Band(reflect), zeroDb = Band(zero);
            _output.WriteLine($"{task}: border bands reflect {reflectDb:F2} dB, zero {zeroDb:F2} dB");
            Assert.True(reflectDb - zeroDb >= minimumDb, $"{task}: reflect {reflectDb:F2} dB vs zero {zeroDb:F2} dB at the padded borders");
        }
    }


    [Fact]
    public void Restore_without_model_options_uses_the_bundled_model_and_keeps_the_size()
    {
        var input = Path.Combine(_dir, "in.png");
        using (var img = new Image<Rgb24>(37, 29))
        {
            for (var y = 0; y < img.Height; y++)
                for (var x = 0; x < img.Width; x++)
                    img[x, y] = new Rgb24((byte)(x * 6), (byte)(y * 8), (byte)((x * y) % 251));
            img.SaveAsPng(input);
        }
        var output = Path.Combine(_dir, "out.png");
        var (code, stdout, stderr) = Run("restore", input, "-o", output);
        Assert.True(code == 0, stderr);
        Assert.Contains("out.png", stdout);
        using var result = Image.Load<Rgb24>(output);
        Assert.Equal(37, result.Width);
        Assert.Equal(29, result.Height);
    }

    [Fact]
    public void Restore_with_weights_but_no_architecture_is_a_one_line_error()
    {
        var input = Path.Combine(_dir, "in.png");
        using (var img = new Image<Rgb24>(8, 8)) img.SaveAsPng(input);
        var (code, _, stderr) = Run("restore", input, "-o", Path.Combine(_dir, "out.png"), "--weights", Path.Combine(_dir, "w.safetensors"));
        Assert.Equal(1, code);
        Assert.StartsWith("darcot restore:", stderr);
        Assert.Contains("--preset", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRun.Capture(args);
}
