using System.Diagnostics;
using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Evaluation;

/// <summary>Options of <see cref="EvaluationRunner"/>.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Inputs are padded (bottom/right) to multiples of this before restoring, and the output is cropped back
    /// to the original size, so no pixel is lost (default 8, MRCNet's requirement).</summary>
    public int SizeMultiple { get; init; } = 8;

    /// <summary>Padding mode for <see cref="SizeMultiple"/>.</summary>
    public PadMode PadMode { get; init; } = PadMode.Reflect;

    /// <summary>
    /// Reproduce the official tester instead of padding: crop the bottom and right edges of input and target until H
    /// and W are multiples of 8 (<c>tester.py</c>); for denoising sets, first drop the first row and column when H or W
    /// is not a multiple of 4 (<c>tester_noise.py</c>, BSD68 481×321 → 480×320).
    /// </summary>
    public bool OfficialCrop { get; init; }

    /// <summary>
    /// Quantise the restored image as the official PNGs are saved (torchvision <c>save_image</c>: clamp to [0,1], ×255,
    /// +0.5, truncate, then /255 here) before computing metrics. Default true: the official numbers come from those
    /// 8-bit files. When false, the output is only clamped to [0,1].
    /// </summary>
    public bool QuantizeOutputs { get; init; } = true;

    /// <summary>Also compute PSNR/SSIM on the BT.601 Y channel (<see cref="ColorSpaces.RgbToY"/> of the quantised RGB).</summary>
    public bool ComputeY { get; init; } = true;

    /// <summary>
    /// PSNR of identical images is +∞; it is reported as this value (default 100 dB, what the official tester's PSNR
    /// helper returns for zero error). Null keeps +∞ (written as "inf").
    /// </summary>
    public double? PsnrCapDb { get; init; } = 100;

    /// <summary>SSIM convention (default scikit-image's, as the official evaluation).</summary>
    public SsimVariant SsimVariant { get; init; } = SsimVariant.SkimageDefault;

    /// <summary>When set, every restored image is saved there as <c>&lt;set&gt;/&lt;name&gt;.png</c>.</summary>
    public string? SaveDirectory { get; init; }

    /// <summary>Stop at the first image that cannot be evaluated. By default it is recorded in
    /// <see cref="SetResult.Failed"/> with the reason and the evaluation goes on.</summary>
    public bool FailFast { get; init; }
}

/// <summary>
/// Restores test sets with a restore delegate and scores them as the official DA-RCOT evaluation does: RGB PSNR and
/// SSIM with data range 1 on 8-bit-rounded outputs, per image, averaged per set; plus Y-channel variants and timing.
/// </summary>
/// <remarks>
/// The runner does not know the model: it calls <c>restore</c> with a <c>[1,C,H',W']</c> float tensor in [0,1] (on the
/// CPU; the delegate moves it to its device) whose sides are multiples of <see cref="EvaluationOptions.SizeMultiple"/>,
/// and expects an image of the same size back (the first element of a two-output network such as MRCNet).
/// </remarks>
public sealed class EvaluationRunner
{
    private static readonly Scalar EightBitMax = Scalars.Constant(255.0), HalfLevel = Scalars.Constant(0.5);

    private readonly Func<Tensor, Tensor> _restore;
    private readonly ILogger _logger;

    /// <summary>Creates the runner.</summary>
    /// <param name="restore">Restores one padded image; the runner disposes what it returns.</param>
    /// <param name="options">Options; defaults when null.</param>
    /// <param name="logger">Diagnostics (skipped images, set summaries).</param>
    public EvaluationRunner(Func<Tensor, Tensor> restore, EvaluationOptions? options = null, ILogger? logger = null)
    {
        _restore = restore ?? throw new ArgumentNullException(nameof(restore));
        Options = options ?? new EvaluationOptions();
        if (Options.SizeMultiple < 1) throw new ArgumentOutOfRangeException(nameof(options), Options.SizeMultiple, "SizeMultiple must be >= 1.");
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The options.</summary>
    public EvaluationOptions Options { get; }

    /// <summary>Evaluates every set.</summary>
    /// <param name="sets">Test sets (e.g. from <see cref="OfficialTestLayout.Discover"/>), in table column order.</param>
    /// <param name="method">The method name for the report's row.</param>
    /// <param name="progress">Per-image progress.</param>
    /// <param name="cancellationToken">Stops between images.</param>
    /// <exception cref="EvaluationCanceledException">Cancelled; carries the results so far.</exception>
    /// <exception cref="EvaluationFailedException">With <see cref="EvaluationOptions.FailFast"/>: an image could not
    /// be evaluated; carries the results so far.</exception>
    public EvaluationReport Run(IReadOnlyList<TestSet> sets, string method = "model", IProgress<EvaluationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sets);
        var results = new List<SetResult>(sets.Count);
        foreach (var set in sets)
        {
            var images = new List<ImageResult>(set.Items.Count);
            var skipped = new List<string>();
            var failed = new List<string>();
            SetResult Current() => new(set.Name, set.Task, set.TaskId, images, skipped) { Failed = failed };
            EvaluationReport SoFar(string reason) => new(method, [.. results, Current()]) { StoppedBecause = reason };
            for (int i = 0; i < set.Items.Count; i++)
            {
                var item = set.Items[i];
                if (cancellationToken.IsCancellationRequested)
                    throw new EvaluationCanceledException(SoFar($"cancelled before {set.Name}/{item.Name}"), cancellationToken);
                try
                {
                    var result = EvaluateImage(set, item, skipped);
                    if (result is not null) images.Add(result);
                }
                catch (OperationCanceledException)
                {
                    throw new EvaluationCanceledException(SoFar($"cancelled during {set.Name}/{item.Name}"), cancellationToken);
                }
                catch (Exception e) when (e is Errors.DaRcotException or IOException or UnauthorizedAccessException)
                {
                    // One unreadable or unrestorable image must not throw away the results of all the others.
                    if (Options.FailFast) throw new EvaluationFailedException(SoFar($"{set.Name}/{item.Name}: {e.Message}"), e);
                    failed.Add($"{item.Name}: {e.Message}");
                    _logger.LogWarning("Could not evaluate {Set}/{Image}: {Reason}", set.Name, item.Name, e.Message);
                }
                progress?.Report(new EvaluationProgress(set.Name, i + 1, set.Items.Count, item.Name));
            }
            var setResult = Current();
            _logger.LogInformation("{Set}: {Count} images, PSNR {Psnr:F2} dB, SSIM {Ssim:F4}, {Ms:F1} ms/image", set.Name, images.Count, setResult.Psnr, setResult.Ssim, setResult.Milliseconds);
            results.Add(setResult);
        }
        return new EvaluationReport(method, results);
    }

    private ImageResult? EvaluateImage(TestSet set, TestItem item, List<string> skipped)
    {
        using var scope = torch.NewDisposeScope();
        var target = ImageTensor.Load(item.TargetPath);
        Tensor input;
        if (item.InputPath is not null) input = ImageTensor.Load(item.InputPath);
        else
        {
            var synthesis = item.Synthesis ?? throw new Errors.DaRcotException($"Test item '{item.Name}' has neither an input image nor a synthesiser.");
            using var generator = new torch.Generator(unchecked((ulong)item.Seed), torch.CPU);
            input = synthesis.Apply(target, generator);
        }
        if (!input.shape.SequenceEqual(target.shape))
        {
            // The official tester skips such pairs too (it compares the shapes before cropping).
            var reason = $"{item.Name}: input [{string.Join(",", input.shape)}] and target [{string.Join(",", target.shape)}] differ in size";
            skipped.Add(reason);
            _logger.LogWarning("Skipped {Reason}", reason);
            return null;
        }
        if (Options.OfficialCrop) (input, target) = OfficialCropPair(input, target, set.IsDenoising);

        long h = input.shape[2], w = input.shape[3];
        var watch = Stopwatch.StartNew();
        var padded = Imaging.Padding.PadToMultiple(input, Options.SizeMultiple, Options.PadMode);
        var raw = _restore(padded);
        Tensor restored;
        using (raw)
        {
            if (raw.dim() != 4 || raw.shape[2] < h || raw.shape[3] < w)
                throw new Errors.TensorArgumentException("restore", $"returned [{string.Join(",", raw.shape)}] for an input of [{string.Join(",", padded.shape)}].");
            restored = Imaging.Padding.Crop(raw, h, w).cpu().to(ScalarType.Float32);
        }
        watch.Stop();

        restored = Options.QuantizeOutputs ? Quantize8(restored) : restored.Clamp01();
        if (Options.SaveDirectory is { } dir)
        {
            var folder = Path.Combine(dir, Sanitize(set.Name));
            Directory.CreateDirectory(folder);
            ImageTensor.SavePng(restored, Path.Combine(folder, Path.GetFileNameWithoutExtension(item.Name) + ".png"));
        }
        double psnr = Cap(Psnr.Compute(restored, target, 1.0));
        double ssim = Ssim.Compute(restored, target, Options.SsimVariant, 1.0);
        double psnrY = double.NaN, ssimY = double.NaN;
        if (Options.ComputeY && restored.shape[1] == 3)
        {
            var ry = ColorSpaces.RgbToY(restored);
            var ty = ColorSpaces.RgbToY(target);
            psnrY = Cap(Psnr.Compute(ry, ty, 1.0));
            ssimY = Ssim.Compute(ry, ty, Options.SsimVariant, 1.0);
        }
        return new ImageResult(item.Name, psnr, ssim, psnrY, ssimY, watch.Elapsed.TotalMilliseconds, h, w);
    }

    /// <summary>
    /// torchvision <c>save_image</c>'s 8-bit conversion, back in [0,1]: clamp(x, 0, 1)·255 + 0.5, truncated, / 255
    /// (values are non-negative after the clamp, so truncation is a floor).
    /// </summary>
    public static Tensor Quantize8(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var scope = torch.NewDisposeScope();
        return image.Clamp01().mul(EightBitMax).Plus(HalfLevel).floor().div(EightBitMax).MoveToOuterDisposeScope();
    }

    /// <summary>The official tester's crop of an input/target pair (see <see cref="EvaluationOptions.OfficialCrop"/>).</summary>
    public static (Tensor Input, Tensor Target) OfficialCropPair(Tensor input, Tensor target, bool denoising)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        using var scope = torch.NewDisposeScope();
        long h = input.shape[2], w = input.shape[3];
        var x = input;
        var y = target;
        if (denoising && (h % 4 != 0 || w % 4 != 0))
        {
            x = x.narrow(2, 1, h - 1).narrow(3, 1, w - 1);
            y = y.narrow(2, 1, h - 1).narrow(3, 1, w - 1);
            h--; w--;
        }
        long h8 = h - h % 8, w8 = w - w % 8;
        if (h8 == 0 || w8 == 0) throw new Errors.TensorArgumentException("input", $"image of {w}x{h} is smaller than 8 pixels; the official crop would remove it.");
        x = x.narrow(2, 0, h8).narrow(3, 0, w8).contiguous();
        y = y.narrow(2, 0, h8).narrow(3, 0, w8).contiguous();
        return (x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
    }

    private double Cap(double psnr) => Options.PsnrCapDb is { } cap && psnr > cap ? cap : psnr;

    private static string Sanitize(string name) =>
        string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
