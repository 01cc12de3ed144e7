using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Data.Samplers;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Metrics;
using DaRcot.Rec.Models;
using DaRcot.Rec.Potentials;
using DaRcot.Rec.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Evaluation;

/// <summary>Settings of <see cref="RecAblation.Run"/>.</summary>
public sealed record RecAblationOptions
{
    /// <summary>Backbone architecture (<c>restormer</c>, <c>nafnet</c> or <c>mprnet</c>); its REC composition is
    /// <c>ARCH-rec</c>.</summary>
    public string Arch { get; init; } = "nafnet";

    /// <summary>The backbone's official constructor arguments as JSON.</summary>
    public string BackboneConfig { get; init; } = """{"width": 16, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1], "dec_blk_nums": [1, 1, 1]}""";

    /// <summary>The <c>rec</c> object (REGM size, injector); see the README's <c>*-rec</c> configuration.</summary>
    public string RecConfig { get; init; } = """{"regm_width": 8, "regm_blocks": [1, 1, 1, 1], "regm_heads": [1, 1, 2, 2]}""";

    /// <summary>Degradations trained and evaluated (registry names).</summary>
    public IReadOnlyList<string> Tasks { get; init; } = new[] { "denoise_25", "derain", "dehaze", "deblur", "lowlight" };

    /// <summary>Seeds; each seeds the network initialisation, the data and the trainer of both variants alike.</summary>
    public IReadOnlyList<long> Seeds { get; init; } = new long[] { 1, 2, 3 };

    /// <summary>Training steps per run.</summary>
    public int Steps { get; init; } = 200;

    /// <summary>Patches per step.</summary>
    public int BatchSize { get; init; } = 4;

    /// <summary>Patch size (at least 32, the critic's minimum).</summary>
    public int PatchSize { get; init; } = 64;

    /// <summary>Learning rate of both networks (Adam).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Held-out crops per held-out photo and task.</summary>
    public int EvalCrops { get; init; } = 4;

    /// <summary>Size of the held-out crops.</summary>
    public int EvalCropSize { get; init; } = 128;
}

/// <summary>One training run's held-out PSNR for one task.</summary>
/// <param name="Variant"><c>backbone</c> or <c>backbone+REC</c>.</param>
/// <param name="Seed">The run's seed.</param>
/// <param name="Task">Degradation.</param>
/// <param name="Psnr">Mean PSNR over the held-out crops, dB.</param>
/// <param name="Seconds">Training time of the run.</param>
public sealed record AblationResult(string Variant, long Seed, string Task, double Psnr, double Seconds);

/// <summary>
/// The paper's plug-in experiment (Table XI) at a size that fits a CPU: the same backbone trained alone and with REC,
/// with the same data, steps, optimiser and seeds (DA-RCOT's OT trainer, paired mode: potential step + transport step
/// with FROT cost and paired L1), then evaluated on crops of held-out photos for each degradation.
/// </summary>
public static class RecAblation
{
    /// <summary>The two variants, in report order.</summary>
    public static IReadOnlyList<string> Variants { get; } = new[] { "backbone", "backbone+REC" };

    /// <summary>Runs every seed × variant; returns one result per (variant, seed, task).</summary>
    /// <param name="options">Settings.</param>
    /// <param name="trainingPhotos">Clean training photos.</param>
    /// <param name="heldOutPhotos">Clean held-out photos (never trained on).</param>
    /// <param name="progress">A line per finished run.</param>
    /// <param name="cancellationToken">Checked between steps.</param>
    public static IReadOnlyList<AblationResult> Run(RecAblationOptions options, IReadOnlyList<string> trainingPhotos, IReadOnlyList<string> heldOutPhotos,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(trainingPhotos);
        ArgumentNullException.ThrowIfNull(heldOutPhotos);
        if (trainingPhotos.Count == 0 || heldOutPhotos.Count == 0) throw new ArgumentException("training and held-out photos are both needed.");
        if (options.Seeds.Count == 0 || options.Steps < 1) throw new ArgumentException("at least one seed and one step are needed.");
        var recConfig = new JsonObject
        {
            ["backbone"] = JsonNode.Parse(options.BackboneConfig),
            ["rec"] = JsonNode.Parse(options.RecConfig),
        }.ToJsonString();
        var items = options.Tasks.Select(DegradationRegistry.Create)
            .SelectMany(d => trainingPhotos.Select(photo => new TrainingItem(d.TaskId, photo, null, d))).ToArray();
        using var heldOut = HeldOutSet.Build(heldOutPhotos, options);

        var results = new List<AblationResult>();
        foreach (var seed in options.Seeds)
        {
            foreach (var variant in Variants)
            {
                var (arch, config) = variant == "backbone" ? (options.Arch, options.BackboneConfig) : (options.Arch + "-rec", recConfig);
                var watch = System.Diagnostics.Stopwatch.StartNew();
                manual_seed(seed);
                var (model, info) = ModelFactory.Create(arch, config);
                using var restorer = new Restorer(model, info, ownsModel: true);
                using (var potential = new PooledCritic(PooledCritic.WidthFor(model.parameters().Sum(p => p.numel()))))
                using (var trainer = new OtTrainer(model, potential, new OtTrainerOptions
                {
                    Epochs = 1, Mode = PairingMode.Paired, Optimizer = OptimizerKind.Adam, LearningRate = options.LearningRate,
                    TransportLearningRateRatio = 1.0, Seed = seed, MaxSteps = options.Steps, WritePlot = false,
                }))
                using (var source = new StreamingBatchSource(items, new StreamingBatchOptions
                {
                    BatchSize = options.BatchSize, PatchSize = options.PatchSize, Seed = seed,
                    SamplesPerEpoch = options.Steps * options.BatchSize, Workers = 1,
                }))
                {
                    trainer.Train(source, cancellationToken: cancellationToken);
                }
                var seconds = watch.Elapsed.TotalSeconds;
                model.eval();
                foreach (var task in options.Tasks)
                    results.Add(new AblationResult(variant, seed, task, heldOut.MeanPsnr(restorer, task, cancellationToken), seconds));
                progress?.Report($"seed {seed} {variant}: trained {options.Steps} steps in {seconds:F0} s; " +
                    string.Join(", ", results.Where(r => r.Seed == seed && r.Variant == variant).Select(r => $"{r.Task} {r.Psnr:F2} dB")));
            }
        }
        return results;
    }

    /// <summary>Mean and sample standard deviation over seeds, per variant and task.</summary>
    public static IReadOnlyList<(string Variant, string Task, double Mean, double Std, int Runs)> Summarize(IReadOnlyList<AblationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        return results.GroupBy(r => (r.Variant, r.Task))
            .Select(g =>
            {
                var v = g.Select(r => r.Psnr).ToArray();
                var mean = v.Average();
                var std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
                return (g.Key.Variant, g.Key.Task, mean, std, v.Length);
            })
            .ToArray();
    }

    /// <summary>Every result as CSV: <c>variant,seed,task,psnr,train_seconds</c>.</summary>
    public static string ToCsv(IReadOnlyList<AblationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var sb = new StringBuilder("variant,seed,task,psnr,train_seconds\n");
        foreach (var r in results)
            sb.Append(CultureInfo.InvariantCulture, $"{r.Variant},{r.Seed},{r.Task},{r.Psnr:R},{r.Seconds:F1}\n");
        return sb.ToString();
    }

    /// <summary>Held-out crops, degraded once per task with fixed seeds, so every run is scored on the same pixels.</summary>
    private sealed class HeldOutSet : IDisposable
    {
        private readonly Dictionary<string, List<(Tensor Degraded, Tensor Clean)>> _pairs = new(StringComparer.Ordinal);

        public static HeldOutSet Build(IReadOnlyList<string> photos, RecAblationOptions options)
        {
            var set = new HeldOutSet();
            var random = new Random(2026);
            var crops = new List<Tensor>();
            foreach (var photo in photos)
            {
                using var image = ImageTensor.Load(photo);
                long h = image.shape[2], w = image.shape[3], c = Math.Min(options.EvalCropSize, Math.Min(h, w));
                for (var k = 0; k < options.EvalCrops; k++)
                    crops.Add(image.narrow(2, random.NextInt64(h - c + 1), c).narrow(3, random.NextInt64(w - c + 1), c).contiguous());
            }
            foreach (var task in options.Tasks)
            {
                var degradation = DegradationRegistry.Create(task);
                set._pairs[task] = crops.Select((clean, i) => (EvaluationRunner.Quantize8(degradation.Apply(clean, 7_000 + i)), clean.clone())).ToList();
            }
            foreach (var crop in crops) crop.Dispose();
            return set;
        }

        public double MeanPsnr(Restorer restorer, string task, CancellationToken cancellationToken)
        {
            var total = 0.0;
            foreach (var (degraded, clean) in _pairs[task])
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var restored = EvaluationRunner.Quantize8(restorer.Restore(degraded, cancellationToken: cancellationToken));
                total += Psnr.Compute(restored, clean);
            }
            return total / _pairs[task].Count;
        }

        public void Dispose()
        {
            foreach (var pairs in _pairs.Values)
                foreach (var (d, c) in pairs)
                {
                    d.Dispose();
                    c.Dispose();
                }
        }
    }
}
