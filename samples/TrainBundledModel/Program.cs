// The earlier bundled denoiser's training loop (plain paired FROT + L1; the bundled model is now trained by eng/train-bundled-model.sh with OtTrainer), kept as the smallest training example and the tool that cuts the chelsea crops.
//
//   dotnet run --project samples/TrainBundledModel -c Release -- train --images ../shared/images --out artifacts/train-denoiser
//   dotnet run --project samples/TrainBundledModel -c Release -- eval  --images ../shared/images --weights samples/models/<file>
//
// Training: random 64×64 patches (with flips/transposes) from every PNG in --images except --holdout, each degraded
// on the fly by the library's GaussianNoise (official 8-bit quantisation) with σ drawn uniformly in [10, 50]. Loss =
// the official paired objective without its potential term: Sigma·mean|T(x) − y| + sigma·FROT(x, T(x)) (Sigma = 1e4,
// sigma = --frot-weight, default 1 as officially), Adam with a cosine learning-rate decay. Everything is seeded.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Metrics;
using DaRcot.Rec.Models;
using DaRcot.Rec.Objectives;
using TorchSharp;
using static TorchSharp.torch;

var mode = args.Length > 0 ? args[0] : "";
var opts = ParseOptions(args.Skip(1).ToArray());
string Opt(string name, string fallback) => opts.TryGetValue(name, out var v) ? v : fallback;
var inv = CultureInfo.InvariantCulture;

var imagesDir = Opt("images", "../shared/images");
var holdout = Opt("holdout", "chelsea.png");
var outDir = Opt("out", "artifacts/train-denoiser");   // not samples/models: that holds the bundled all-in-one model
var steps = int.Parse(Opt("steps", "3000"), inv);
var batch = int.Parse(Opt("batch", "8"), inv);
var patch = int.Parse(Opt("patch", "64"), inv);
var lr = double.Parse(Opt("lr", "1e-3"), inv);
var seed = long.Parse(Opt("seed", "1"), inv);
var frotWeight = double.Parse(Opt("frot-weight", "1"), inv);
var threads = int.Parse(Opt("threads", Environment.ProcessorCount.ToString(inv)), inv);
var evalEvery = int.Parse(Opt("eval-every", "250"), inv);
// Optional wall-clock budget: the cosine schedule then follows max(step/steps, elapsed/budget) and training stops when
// either runs out, so a run on a busy machine still ends on time with a fully decayed learning rate (the step count
// reached then depends on the machine; without --minutes the run is exactly reproducible).
var minutes = double.Parse(Opt("minutes", "0"), inv);
torch.set_num_threads(threads);

switch (mode)
{
    case "train": Train(); return 0;
    case "eval": Eval(Opt("weights", Path.Combine(outDir, BundledModel.WeightsFileName))); return 0;
    case "assets": Assets(Opt("assets", "samples/images")); return 0;
    case "sidebyside": SideBySide(Opt("assets", "samples/images")); return 0;
    default:
        Console.Error.WriteLine("usage: TrainBundledModel (train|eval) [--images DIR] [--holdout FILE] [--out DIR] [--steps N] [--batch B] [--patch P] [--lr LR] [--seed S] [--frot-weight W] [--threads T] [--weights FILE]");
        return 2;
}

void Train()
{
    var files = Directory.EnumerateFiles(imagesDir, "*.png").Where(f => Path.GetFileName(f) != holdout).Order(StringComparer.Ordinal).ToList();
    if (files.Count == 0) throw new InvalidOperationException($"no training PNGs in {imagesDir}");
    Console.WriteLine($"training images ({files.Count}): {string.Join(", ", files.Select(Path.GetFileName))}; held out: {holdout}");
    var images = files.Select(f => ImageTensor.Load(f)).ToList();

    torch.manual_seed(seed);
    using var model = BundledModel.Create();
    var parameterCount = model.parameters().Sum(p => p.numel());
    Console.WriteLine($"model: {BundledModel.ArchName}, {parameterCount} parameters ({parameterCount * 4 / 1024.0:F0} KiB float32), size multiple {model.SizeMultiple}");
    model.train();
    using var optimizer = torch.optim.Adam(model.parameters(), lr);
    var rng = new Random((int)seed);
    using var generator = new torch.Generator(unchecked((ulong)seed), torch.CPU);
    var frot = new FrotCost();
    var paired = new PairedCost();
    var (evalClean, evalNoisy) = EvalCrop(25, 128);
    var sw = Stopwatch.StartNew();
    Directory.CreateDirectory(outDir);
    var log = new List<string> { "step,seconds,lr,loss,l1,frot,holdout_psnr_sigma25_crop128" };
    double runningL1 = 0;
    var lastStep = steps;
    for (var step = 1; step <= steps; step++)
    {
        using var scope = torch.NewDisposeScope();
        var progressFraction = (step - 1) / (double)steps;
        if (minutes > 0) progressFraction = Math.Max(progressFraction, sw.Elapsed.TotalMinutes / minutes);
        var final = step == steps || progressFraction >= 1;
        progressFraction = Math.Min(progressFraction, 1);
        var currentLr = 1e-6 + 0.5 * (lr - 1e-6) * (1 + Math.Cos(Math.PI * progressFraction));
        foreach (var g in optimizer.ParamGroups) g.LearningRate = currentLr;
        var cleans = new List<Tensor>();
        var noisys = new List<Tensor>();
        for (var b = 0; b < batch; b++)
        {
            var img = images[rng.Next(images.Count)];
            var h = (int)img.shape[2];
            var w = (int)img.shape[3];
            var y0 = rng.Next(h - patch + 1);
            var x0 = rng.Next(w - patch + 1);
            var crop = img[.., .., y0..(y0 + patch), x0..(x0 + patch)];
            if (rng.Next(2) == 1) crop = crop.flip(3);
            if (rng.Next(2) == 1) crop = crop.flip(2);
            if (rng.Next(2) == 1) crop = crop.transpose(2, 3);
            crop = crop.contiguous();
            var sigma = 10 + 40 * rng.NextDouble();
            cleans.Add(crop);
            noisys.Add(new GaussianNoise(sigma, taskId: 1).Apply(crop, generator));
        }
        var clean = torch.cat(cleans, 0);
        var noisy = torch.cat(noisys, 0);
        var restored = model.forward(noisy);
        var l1 = PairedCost.MeanAbsolute(restored, clean);
        var loss = l1 * paired.Sigma;
        Tensor? frotTotal = null;
        if (frotWeight > 0)
        {
            using var terms = frot.Compute(noisy, restored, Enumerable.Repeat(1L, batch).ToArray());
            frotTotal = terms.Total.detach().clone();
            loss = loss + terms.Total * frotWeight;
        }
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        runningL1 += l1.item<float>();
        if (step % evalEvery == 0 || final)
        {
            var psnr = EvalPsnr(model, evalNoisy, evalClean);
            var line = string.Create(inv, $"{step},{sw.Elapsed.TotalSeconds:F0},{currentLr:E2},{loss.item<float>():F2},{runningL1 / evalEvery:F5},{frotTotal?.item<float>() ?? 0:F2},{psnr:F3}");
            log.Add(line);
            Console.WriteLine(string.Create(inv, $"step {step}/{steps}  {sw.Elapsed.TotalSeconds:F0}s  lr {currentLr:E2}  mean L1 {runningL1 / evalEvery:F5}  held-out crop PSNR(σ25) {psnr:F2} dB"));
            runningL1 = 0;
            Save(model, Path.Combine(outDir, BundledModel.WeightsFileName), step, sw.Elapsed.TotalSeconds);
            File.WriteAllLines(Path.Combine(outDir, "training_log.csv"), log);
        }
        if (final)
        {
            lastStep = step;
            break;
        }
    }
    Console.WriteLine($"done: {lastStep} steps in {sw.Elapsed.TotalMinutes:F1} min");
    WriteConfig(lastStep, sw.Elapsed.TotalSeconds, parameterCount, files);
    foreach (var t in images) t.Dispose();
}

void Save(nn.Module model, string path, int step, double seconds)
{
    var sd = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().contiguous());
    SafetensorsFile.Write(path, sd, new Dictionary<string, string>
    {
        ["arch"] = BundledModel.ArchName,
        ["task"] = "blind gaussian denoising, sigma 10-50 (0-255 scale)",
        ["step"] = step.ToString(inv),
        ["seed"] = seed.ToString(inv),
        ["train_seconds"] = seconds.ToString("F0", inv),
    });
}

void WriteConfig(int totalSteps, double seconds, long parameterCount, List<string> files)
{
    var config = new
    {
        arch = BundledModel.ArchName,
        weights = BundledModel.WeightsFileName,
        task = "blind Gaussian denoising, sigma 10-50 on the 0-255 scale",
        backbone = new { name = "nafnet", config = BundledModel.BackboneConfig },
        rec = new
        {
            injector = BundledModel.RecOptions.Injector.ToString(),
            pad_mode = BundledModel.RecOptions.PadMode.ToString(),
            dense_downscale = BundledModel.RecOptions.DenseDownscale,
            regm_width = BundledModel.RecOptions.Regm.Width,
            regm_blocks = BundledModel.RecOptions.Regm.Blocks,
            regm_heads = BundledModel.RecOptions.Regm.Heads,
            regm_ffn_expansion_factor = BundledModel.RecOptions.Regm.FfnExpansionFactor,
        },
        parameters = parameterCount,
        training = new
        {
            images = files.Select(Path.GetFileName).ToArray(),
            holdout,
            steps = totalSteps,
            batch,
            patch,
            lr,
            schedule = minutes > 0 ? $"cosine to 1e-6 over min({steps} steps, {minutes.ToString(inv)} min)" : "cosine to 1e-6",
            optimizer = "Adam",
            loss = $"1e4 * mean|T(x)-y| + {frotWeight.ToString(inv)} * FROT(x, T(x))",
            seed,
            threads,
            seconds = Math.Round(seconds),
        },
    };
    File.WriteAllText(Path.Combine(outDir, "config.json"), JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
}

(Tensor Clean, Tensor Noisy) EvalCrop(double sigma, int size)
{
    using var full = ImageTensor.Load(Path.Combine(imagesDir, holdout));
    var h = (int)full.shape[2];
    var w = (int)full.shape[3];
    var clean = full[.., .., ((h - size) / 2)..((h - size) / 2 + size), ((w - size) / 2)..((w - size) / 2 + size)].contiguous();
    using var gen = new torch.Generator(1234, torch.CPU);
    var noisy = new GaussianNoise(sigma).Apply(clean, gen);
    clean.DetachFromDisposeScope();
    noisy.DetachFromDisposeScope();
    return (clean, noisy);
}

double EvalPsnr(nn.Module<Tensor, Tensor> model, Tensor noisy, Tensor clean)
{
    model.eval();
    try
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var restored = Quantize(model.forward(noisy));
        return Psnr.Compute(restored, clean);
    }
    finally
    {
        model.train();
    }
}

static Tensor Quantize(Tensor x) => (x.clamp(0, 1) * 255).round() / 255;

void Eval(string weights)
{
    var (model, _) = BundledModel.Load(weights);
    using var m = model;
    using var clean = ImageTensor.Load(Path.Combine(imagesDir, holdout));
    Console.WriteLine($"held-out image {holdout} [{string.Join(",", clean.shape)}], weights {weights}");
    Console.WriteLine("sigma | noisy PSNR / SSIM | restored PSNR / SSIM | seconds");
    foreach (var sigma in new[] { 15.0, 25.0, 50.0 })
    {
        using var scope = torch.NewDisposeScope();
        using var gen = new torch.Generator(2026, torch.CPU);
        var noisy = new GaussianNoise(sigma).Apply(clean, gen);
        var sw = Stopwatch.StartNew();
        Tensor restored;
        using (torch.no_grad()) restored = Quantize(m.forward(noisy));
        var secs = sw.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(inv, $"{sigma} | {Psnr.Compute(noisy, clean):F2} / {Ssim.Compute(noisy, clean):F4} | {Psnr.Compute(restored, clean):F2} / {Ssim.Compute(restored, clean):F4} | {secs:F2}"));
    }
    // The crop and seed of tests/DaRcot.Rec.Tests/Bundled (its asserted margin is set below this measurement).
    {
        using var scope = torch.NewDisposeScope();
        var crop = clean[.., .., 100..196, 150..250].contiguous();
        using var gen = new torch.Generator(7, torch.CPU);
        var noisy = new GaussianNoise(25).Apply(crop, gen);
        Tensor restored;
        using (torch.no_grad()) restored = m.forward(noisy).clamp(0, 1);
        Console.WriteLine(string.Create(inv, $"test crop [100:196, 150:250], sigma 25, seed 7: noisy {Psnr.Compute(noisy, crop):F2} dB, restored (unquantised) {Psnr.Compute(restored, crop):F2} dB"));
    }
}

// README pictures, step 1: a 256×256 crop of the held-out photo and its σ = 25 noisy version (seeded).
// Step 2 is `darcot restore <photo>_noisy25.png -o <photo>_restored.png` (the bundled model), step 3 `sidebyside`.
void Assets(string dir)
{
    Directory.CreateDirectory(dir);
    var stem = Path.GetFileNameWithoutExtension(holdout);
    using var full = ImageTensor.Load(Path.Combine(imagesDir, holdout));
    using var scope = torch.NewDisposeScope();
    var h = (int)full.shape[2];
    var w = (int)full.shape[3];
    int y0 = Math.Max(0, (h - 256) / 2), x0 = Math.Max(0, (w - 256) / 2);
    var clean = full[.., .., y0..(y0 + 256), x0..(x0 + 256)].contiguous();
    using var gen = new torch.Generator(2026, torch.CPU);
    var noisy = new GaussianNoise(25).Apply(clean, gen);
    ImageTensor.SavePng(clean, Path.Combine(dir, $"{stem}_clean.png"));
    ImageTensor.SavePng(noisy, Path.Combine(dir, $"{stem}_noisy25.png"));
    Console.WriteLine($"wrote {stem}_clean.png and {stem}_noisy25.png (crop x {x0}..{x0 + 256}, y {y0}..{y0 + 256}) to {dir}");
}

void SideBySide(string dir)
{
    var stem = Path.GetFileNameWithoutExtension(holdout);
    var names = new[] { $"{stem}_noisy25.png", $"{stem}_restored.png", $"{stem}_clean.png" };
    var tensors = names.Select(n => ImageTensor.Load(Path.Combine(dir, n))).ToList();
    var clean = tensors[2];
    foreach (var (n, t) in names.Zip(tensors))
        Console.WriteLine(string.Create(inv, $"{n}: PSNR {Psnr.Compute(t, clean):F2} dB, SSIM {Ssim.Compute(t, clean):F4}"));
    const int gap = 8;
    var tiles = tensors.Select(ImageTensor.ToRgb24).ToList();
    var width = tiles.Sum(t => t.Width) + gap * (tiles.Count - 1);
    using var canvas = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(width, tiles.Max(t => t.Height), new SixLabors.ImageSharp.PixelFormats.Rgb24(255, 255, 255));
    var x = 0;
    foreach (var tile in tiles)
    {
        var offset = x;
        canvas.ProcessPixelRows(tile, (dst, src) =>
        {
            for (var y = 0; y < src.Height; y++) src.GetRowSpan(y).CopyTo(dst.GetRowSpan(y).Slice(offset));
        });
        x += tile.Width + gap;
        tile.Dispose();
    }
    var output = Path.Combine(dir, $"{stem}_noisy_restored_clean.png");
    SixLabors.ImageSharp.ImageExtensions.SaveAsPng(canvas, output);
    foreach (var t in tensors) t.Dispose();
    Console.WriteLine($"wrote {output} ({new FileInfo(output).Length / 1024} KiB)");
}

static Dictionary<string, string> ParseOptions(string[] a)
{
    var d = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 0; i + 1 < a.Length; i += 2)
    {
        if (!a[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"expected an option, got '{a[i]}'");
        d[a[i][2..]] = a[i + 1];
    }
    return d;
}
