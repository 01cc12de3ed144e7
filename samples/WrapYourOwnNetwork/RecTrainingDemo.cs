using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Metrics;
using DaRcot.Rec.Objectives;
using DaRcot.Rec.Potentials;
using DaRcot.Rec.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace WrapYourOwnNetwork;

/// <summary>What <see cref="RecTrainingDemo.Run"/> did: one loss per step, PSNR on a fixed validation batch before
/// and after training, and where the weights went.</summary>
public sealed record DemoResult(IReadOnlyList<double> Losses, double NoisyPsnr, double PsnrBefore, double PsnrAfter,
    string? WeightsPath, IReadOnlyList<string> StateDictKeys);

/// <summary>Settings of the demo. The defaults run in well under a minute on a laptop CPU.</summary>
public sealed record DemoOptions
{
    /// <summary>Training steps (each: one potential step and one transport step).</summary>
    public int Steps { get; init; } = 40;

    /// <summary>Patches per step.</summary>
    public int Batch { get; init; } = 4;

    /// <summary>Patch height and width (a multiple of 8, the REC wrapper's size multiple, avoids padding).</summary>
    public int PatchSize { get; init; } = 48;

    /// <summary>Gaussian noise level on the 0..255 scale (the classic denoising setting σ = 25).</summary>
    public double NoiseSigma { get; init; } = 25;

    /// <summary>A clean photo to cut patches from; null = a generated test image.</summary>
    public string? ImagePath { get; init; }

    /// <summary>Where to save the trained weights (.safetensors or TorchSharp format); null = do not save.</summary>
    public string? WeightsPath { get; init; }

    /// <summary>Seed of the patch and noise sampler.</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>Puts REC around <see cref="TinyUNet"/> and trains it briefly with DA-RCOT's optimal-transport trainer on
/// synthetic denoising pairs.</summary>
public static class RecTrainingDemo
{
    /// <summary>Builds, trains, evaluates and (optionally) saves the wrapped network, reporting each step to
    /// <paramref name="log"/>.</summary>
    public static DemoResult Run(DemoOptions options, Action<string>? log = null)
    {
        log ??= _ => { };
        using var generator = new Generator(options.Seed);
        using var clean = LoadOrGenerateImage(options.ImagePath);
        if (clean.shape[2] < options.PatchSize || clean.shape[3] < options.PatchSize)
            throw new ArgumentException($"the image is {clean.shape[3]}×{clean.shape[2]}, smaller than the {options.PatchSize}-pixel patches.");

        // 1. Your network, unchanged, and the REC wrapper around it. The zero-initialised injector makes the
        //    second pass start out identical to the first, so wrapping a *pretrained* network never makes it
        //    worse on day one; training then learns how much of the residual embedding to let in.
        //    The REGM is tiny here to suit the toy backbone; its defaults match DA-RCOT.
        using var model = ResidualConditionedMap.Create(new TinyUNet(width: 16), new RecOptions
        {
            Injector = InjectorKind.ZeroInitProjection,
            Regm = new RegmOptions { Width = 8, Blocks = [1, 1, 1, 1], Heads = [1, 1, 2, 2] },
        });

        // 2. The method: OtTrainer alternates a potential (critic) step — the Wasserstein loss plus the gradient
        //    penalty — with a transport step whose loss is the FROT cost c(x, T(x)) (pixels and Fourier domain; task
        //    id 1, σ = 25 noise, uses its L2-type Fourier penalty) minus the potential of T(x), plus the paired L1 to
        //    the clean patch weighted 10⁴ in paired steps. The critic is sized to the transport network.
        using var potential = new PooledCritic(PooledCritic.WidthFor(model.parameters().Sum(p => p.numel())));
        using var trainer = new OtTrainer(model, potential, new OtTrainerOptions
        {
            Epochs = 1,
            Mode = PairingMode.Paired,
            Optimizer = OptimizerKind.Adam,
            LearningRate = 1e-3,
            TransportLearningRateRatio = 1.0,
            Seed = (long)options.Seed,
            WritePlot = false,
        });

        // A fixed validation batch, so "before" and "after" are measured on the same pixels.
        var (valNoisy, valClean) = SamplePairs(clean, options, generator);
        using var vn = valNoisy;
        using var vc = valClean;
        double noisyPsnr = Psnr.Compute(vn.clamp(0, 1), vc);
        double before = Evaluate(model, vn, vc);
        log($"validation PSNR: noisy {noisyPsnr:F2} dB, untrained network {before:F2} dB");

        var history = trainer.Train(new PatchPairs(clean, options));
        var losses = history.Rows.Select(r => r.TransportLoss).ToList();
        foreach (var r in history.Rows.Where(r => r.Step == 1 || r.Step % 5 == 0 || r.Step == options.Steps))
            log($"step {r.Step,3}: loss {r.TransportLoss,9:F2}   (L1 {r.L1:F4}, cost: rms {r.Rms:F4} + Fourier {r.Fourier:F3}, potential loss {r.PotentialLoss:F3})");

        double after = Evaluate(model, vn, vc);
        log($"validation PSNR after {options.Steps} steps: {after:F2} dB (was {before:F2} dB)");

        // 3. Save. The state dict has the backbone under "backbone." (so your own pretrained weights load into that
        //    subtree) and the new REC parts under "regm." and "cond.".
        var stateDict = model.state_dict();
        if (options.WeightsPath is not null)
        {
            CheckpointWriter.SaveStateDict(options.WeightsPath, stateDict);
            log($"saved {stateDict.Count} tensors to {options.WeightsPath}");
        }
        return new DemoResult(losses, noisyPsnr, before, after, options.WeightsPath, stateDict.Keys.ToArray());
    }

    /// <summary>The trainer's view of the data: one epoch of <see cref="DemoOptions.Steps"/> batches. Each batch is
    /// drawn from its own seed (epoch and index), so an epoch is the same every time — what exact resume needs.</summary>
    private sealed class PatchPairs(Tensor image, DemoOptions options) : ITrainingBatchSource
    {
        public int BatchesPerEpoch => options.Steps;

        public IEnumerable<TrainingBatch> GetBatches(int epoch, int startBatch = 0)
        {
            for (var b = startBatch; b < options.Steps; b++)
            {
                using var generator = new Generator(options.Seed * 1_000_003 + (ulong)epoch * 10_007 + (ulong)b);
                var (noisy, target) = SamplePairs(image, options, generator);
                yield return new TrainingBatch(noisy, target, Enumerable.Repeat(1L, options.Batch).ToArray());
            }
        }
    }

    private static double Evaluate(nn.Module<Tensor, Tensor> model, Tensor noisy, Tensor clean)
    {
        model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var psnr = Psnr.Compute(model.call(noisy).clamp(0, 1), clean);
        model.train();
        return psnr;
    }

    // Random crops of the clean image plus Gaussian noise: the simplest paired denoising data.
    private static (Tensor Noisy, Tensor Clean) SamplePairs(Tensor image, DemoOptions options, Generator generator)
    {
        using var scope = NewDisposeScope();
        long h = image.shape[2], w = image.shape[3], p = options.PatchSize;
        var crops = new Tensor[options.Batch];
        for (var i = 0; i < options.Batch; i++)
        {
            var top = randint(0, h - p + 1, [1], generator: generator).item<long>();
            var left = randint(0, w - p + 1, [1], generator: generator).item<long>();
            crops[i] = image[.., .., TensorIndex.Slice(top, top + p), TensorIndex.Slice(left, left + p)];
        }
        var clean = cat(crops, 0);
        var noisy = clean + randn(clean.shape, generator: generator) * (options.NoiseSigma / 255.0);
        return (noisy.MoveToOuterDisposeScope(), clean.MoveToOuterDisposeScope());
    }

    // A photo when one is given; otherwise a 128×128 image with smooth shading, edges and fine stripes, enough
    // structure for a denoiser to learn something, so the demo runs anywhere without data files.
    private static Tensor LoadOrGenerateImage(string? path)
    {
        if (path is not null) return DaRcot.Rec.Imaging.ImageTensor.Load(path);
        using var scope = NewDisposeScope();
        var axis = linspace(0, 1, 128);
        var yy = axis.view(-1, 1).expand(128, 128);
        var xx = axis.view(1, -1).expand(128, 128);
        var disc = ((xx - 0.5).square() + (yy - 0.5).square() < 0.09).to(ScalarType.Float32);
        var stripes = (sin(xx * 40) > 0).to(ScalarType.Float32) * (yy > 0.7).to(ScalarType.Float32);
        var image = stack([0.2 + 0.6 * xx, 0.3 + 0.5 * disc, 0.1 + 0.4 * yy + 0.4 * stripes]).clamp(0, 1);
        return image.unsqueeze(0).MoveToOuterDisposeScope();
    }
}
