using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Models;
using DaRcot.Rec.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;
using Padding = DaRcot.Rec.Imaging.Padding;

namespace DaRcot.Rec.Inference;

/// <summary>Options of a <see cref="Restorer"/>.</summary>
public sealed record RestorerOptions
{
    /// <summary>Where the network runs: <c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>. CUDA needs the
    /// application to reference a CUDA build of libtorch (e.g. the <c>TorchSharp-cuda-linux</c> package).</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Tile size for tiled inference (official Restormer demo semantics), or null to process whole images.
    /// Must be a multiple of the architecture's size multiple.</summary>
    public int? TileSize { get; init; }

    /// <summary>Overlap between neighbouring tiles (official default 32).</summary>
    public int TileOverlap { get; init; } = TiledRestorer.DefaultOverlap;

    /// <summary>
    /// The memory one restoration may use on the CPU (image buffers plus the network's working memory), in bytes;
    /// null: half of the memory available when the restoration starts, at most 4 GB. Without
    /// <see cref="TileSize"/>, images too large for one pass are tiled automatically with the largest tile that fits;
    /// what cannot fit even in the smallest tile is refused with <see cref="MemoryBudgetException"/> before the large
    /// buffers are allocated. Not applied on CUDA devices (host memory is not what runs out there).
    /// </summary>
    public long? MemoryBudgetBytes { get; init; }

    /// <summary>The network's working memory per input pixel used for planning; null: measured once on a small
    /// probe image (Linux: the process's peak resident memory; elsewhere a conservative 32 KB).</summary>
    public long? WorkingBytesPerPixel { get; init; }

    /// <summary>The number format of the forward pass: <see cref="InferencePrecision.Float32"/> (default) or
    /// <see cref="InferencePrecision.BFloat16"/> mixed precision (faster on CPUs with bfloat16 instructions, within a few
    /// hundredths of a dB; see <see cref="MixedPrecision"/>). Results are float32 either way.</summary>
    public InferencePrecision Precision { get; init; } = InferencePrecision.Float32;

    /// <summary>Hand the network its input in channels-last memory on the CPU (default true). The values are the same
    /// (within float32 rounding: the kernels sum in another order); the layers keep that layout, so libtorch's 1×1 and
    /// depthwise convolutions take their fast path and the layer norms read channels without a copy. Measured at 2
    /// threads against the same network fed NCHW: DA-RCOT small 128² 519 → 480 ms, MPRNet 128² 1889 → 1801 ms,
    /// NAFNet width 32 256² 314 → 266 ms, Restormer 128² 892 → 867 ms.</summary>
    public bool ChannelsLast { get; init; } = true;
}

/// <summary>Progress over a list of files: files finished, files in all, and the file just finished.</summary>
/// <param name="Done">Files finished.</param>
/// <param name="Total">Files in all.</param>
/// <param name="Current">The file just finished.</param>
public readonly record struct FileProgress(int Done, int Total, string Current);

/// <summary>A file <see cref="Restorer.RestoreImageFiles"/> skipped, and why.</summary>
/// <param name="Input">The input file.</param>
/// <param name="Reason">The error message (names the file and the problem).</param>
public sealed record FileFailure(string Input, string Reason);

/// <summary>
/// Runs a loaded restoration network the way the official test scripts do: pads the input bottom/right to the
/// architecture's size multiple with its padding convention, runs the network without gradients (whole image or
/// tiled), crops back, and returns the final image plus every named output of models implementing
/// <see cref="INamedOutputs"/>. Results are float32 on the CPU and are not clamped (clamp when quantising).
/// </summary>
public sealed class Restorer : IDisposable
{
    private readonly ILogger _logger;
    private readonly bool _ownsModel;
    private MemoryPlanner.TileCost? _tileCost;

    /// <summary>The network (in eval mode, on <see cref="Device"/>).</summary>
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>Padding and channel information of the network.</summary>
    public ArchInfo Info { get; }

    /// <summary>The options in use.</summary>
    public RestorerOptions Options { get; }

    /// <summary>The device the network runs on.</summary>
    public Device Device { get; }

    /// <summary>Wraps an already loaded <paramref name="model"/>; moves it to the requested device and eval mode.</summary>
    /// <param name="model">The network with its weights.</param>
    /// <param name="info">Its padding and channel information (from <see cref="ModelFactory"/> or a <see cref="Preset"/>).</param>
    /// <param name="options">Device and tiling; defaults when null.</param>
    /// <param name="logger">Diagnostics; none when null.</param>
    /// <param name="ownsModel">Dispose the model with this restorer.</param>
    /// <exception cref="DeviceUnavailableException">The device cannot be used in this process.</exception>
    /// <exception cref="NonFiniteTensorException">A weight holds NaN or ∞ (names it).</exception>
    public Restorer(nn.Module<Tensor, Tensor> model, ArchInfo info, RestorerOptions? options = null, ILogger? logger = null, bool ownsModel = false)
        : this(model, info, options, logger, ownsModel, weightsSource: null)
    {
    }

    private Restorer(nn.Module<Tensor, Tensor> model, ArchInfo info, RestorerOptions? options, ILogger? logger, bool ownsModel, string? weightsSource)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(info);
        Options = options ?? new RestorerOptions();
        if (Options.TileSize is { } tile && (tile < 1 || tile % info.SizeMultiple != 0))
            throw new ArgumentOutOfRangeException(nameof(options), tile, $"The tile size must be a positive multiple of {info.SizeMultiple} for {info.Arch}, got {tile}.");
        if (Options.TileOverlap < 0) throw new ArgumentOutOfRangeException(nameof(options), Options.TileOverlap, $"The tile overlap must be ≥ 0, got {Options.TileOverlap}.");
        if (Options.MemoryBudgetBytes is <= 0) throw new ArgumentOutOfRangeException(nameof(options), Options.MemoryBudgetBytes, $"The memory budget must be positive, got {Options.MemoryBudgetBytes}.");
        if (Options.WorkingBytesPerPixel is <= 0) throw new ArgumentOutOfRangeException(nameof(options), Options.WorkingBytesPerPixel, $"The working bytes per pixel must be positive, got {Options.WorkingBytesPerPixel}.");
        // NaN weights make every output NaN, which would be written as a flat image without complaint.
        FiniteCheck.Weights(model, weightsSource);
        _logger = logger ?? NullLogger.Instance;
        Device = ResolveDevice(Options.Device);
        Model = model;
        Info = info;
        _ownsModel = ownsModel;
        Model.to(Device);
        Model.eval();
    }

    /// <summary>
    /// Builds <paramref name="arch"/> from <paramref name="configJson"/>, loads <paramref name="weightsPath"/> strictly
    /// and wraps the result (the restorer owns the model).
    /// </summary>
    /// <param name="arch">A <see cref="ModelFactory"/> architecture.</param>
    /// <param name="configJson">Official constructor arguments; null = official defaults.</param>
    /// <param name="weightsPath">A PyTorch, safetensors or TorchSharp checkpoint.</param>
    /// <param name="containerKey">The key holding the state_dict; null detects it (a top-level state_dict, else the
    /// first of <c>params</c>, <c>params_ema</c>, <c>state_dict</c>, ..., which covers every official release).</param>
    /// <param name="options">Device and tiling.</param>
    /// <param name="logger">Diagnostics.</param>
    /// <exception cref="ModelConfigException">Unknown architecture or invalid configuration.</exception>
    /// <exception cref="CheckpointFormatException">The weights file cannot be read.</exception>
    /// <exception cref="StateDictMismatchException">The weights do not fit the network (e.g. another architecture).</exception>
    /// <exception cref="NonFiniteTensorException">A weight holds NaN or ∞ (names the tensor and the file).</exception>
    public static Restorer Load(string arch, string? configJson, string weightsPath, string? containerKey = null, RestorerOptions? options = null, ILogger? logger = null)
    {
        var (model, info) = ModelFactory.Create(arch, configJson, logger);
        try
        {
            return LoadWeights(model, info, weightsPath, containerKey, options, logger);
        }
        catch (StateDictMismatchException e) when (configJson is null && e.MissingKeys.Count + e.UnexpectedKeys.Count + e.ShapeMismatches.Count > 0)
        {
            // Hundreds of missing keys say little; the likely cause is a configuration that was not given.
            throw new StateDictMismatchException(weightsPath, e.MissingKeys, e.UnexpectedKeys, e.ShapeMismatches,
                $"No configuration was given, so the official default '{arch}' was built, and these weights are of another size: " +
                "give the configuration they were trained with (`darcot info` reads it from the file for Restormer and NAFNet).");
        }
    }

    /// <summary>The bundled model (<see cref="BundledModel.Load(ILogger?)"/>) wrapped for restoration; the restorer owns it.</summary>
    /// <exception cref="CheckpointFormatException">This build has no embedded weights.</exception>
    public static Restorer LoadBundled(RestorerOptions? options = null, ILogger? logger = null)
    {
        var (model, info) = BundledModel.Load(logger);
        try
        {
            return new Restorer(model, info, options, logger, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Builds the network of <paramref name="preset"/>, loads <paramref name="weightsPath"/> strictly and wraps it.</summary>
    /// <exception cref="CheckpointFormatException">The weights file cannot be read.</exception>
    /// <exception cref="StateDictMismatchException">The weights are not those of the preset's network.</exception>
    public static Restorer Load(Preset preset, string weightsPath, string? containerKey = null, RestorerOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(preset);
        var (model, info) = preset.Create();
        return LoadWeights(model, info, weightsPath, containerKey, options, logger);
    }

    private static Restorer LoadWeights(nn.Module<Tensor, Tensor> model, ArchInfo info, string weightsPath, string? containerKey, RestorerOptions? options, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(weightsPath);
        try
        {
            // Resolve the device before reading a large checkpoint, so a bad --device fails fast.
            ResolveDevice((options ?? new RestorerOptions()).Device);
            if (!File.Exists(weightsPath)) throw new CheckpointFormatException(weightsPath, "the file does not exist.");
            var report = StateDictLoader.LoadFile(model, weightsPath, containerKey, strict: true);
            (logger ?? NullLogger.Instance).LogInformation("Loaded {Count} tensors from {Path} into {Arch}", report.Loaded, weightsPath, info.Arch);
            return new Restorer(model, info, options, logger, ownsModel: true, weightsSource: weightsPath);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Parses a device name and checks that this process can use it.
    /// </summary>
    /// <exception cref="DeviceUnavailableException">Unknown name, or CUDA requested without a CUDA backend or GPU.</exception>
    public static Device ResolveDevice(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var trimmed = name.Trim().ToLowerInvariant();
        if (trimmed == "cpu") return CPU;
        if (trimmed == "cuda" || trimmed.StartsWith("cuda:", StringComparison.Ordinal))
        {
            bool available;
            try { available = cuda.is_available(); }
            catch (Exception e) when (e is not OutOfMemoryException) { available = false; }
            if (!available)
                throw new DeviceUnavailableException(name,
                    "CUDA is not available to this process. The application must reference a CUDA build of libtorch (e.g. the TorchSharp-cuda-linux package instead of TorchSharp-cpu) and run on a machine with an NVIDIA GPU and driver; use --device cpu otherwise.");
            try { return device(trimmed); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new DeviceUnavailableException(name, e.Message);
            }
        }
        throw new DeviceUnavailableException(name, "unknown device; use cpu, cuda or cuda:N.");
    }

    /// <summary>Restores <paramref name="input"/> (float NCHW or CHW, any H×W, values in [0,1]) and returns the final
    /// image with the same layout and size (see <see cref="RestoreNamed(Tensor, IProgress{TileProgress}, CancellationToken)"/>).</summary>
    public Tensor Restore(Tensor input, IProgress<TileProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var outputs = RestoreNamed(input, progress, cancellationToken);
        foreach (var (key, value) in outputs)
            if (key != INamedOutputs.Final) value.Dispose();
        return outputs[INamedOutputs.Final];
    }

    /// <summary>
    /// Restores <paramref name="input"/> and returns every output: <see cref="INamedOutputs.Final"/> (the restored
    /// image) and, for models implementing <see cref="INamedOutputs"/>, the others (e.g. MPRNet's stage images).
    /// Image-sized outputs are cropped to the input size; an output s times smaller (an embedding) is cropped to
    /// ⌈H/s⌉×⌈W/s⌉. The caller disposes the tensors.
    /// </summary>
    /// <remarks>Runs within <see cref="RestorerOptions.MemoryBudgetBytes"/> (see <see cref="Plan"/>): tiled
    /// automatically when one pass would not fit, with <paramref name="progress"/> per tile.</remarks>
    /// <exception cref="TensorArgumentException">Wrong rank or channel count, an empty dimension, or not floating point.</exception>
    /// <exception cref="NonFiniteTensorException">The input or an output holds NaN or ∞ (names which).</exception>
    /// <exception cref="MemoryBudgetException">The restoration cannot fit in the budget (nothing large was allocated).</exception>
    public IReadOnlyDictionary<string, Tensor> RestoreNamed(Tensor input, IProgress<TileProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        CheckInput(input);
        var chw = input.dim() == 3;
        var plan = Plan(chw ? 1 : input.shape[0], Info.InputChannels, input.shape[^2], input.shape[^1]);
        return RestoreNamed(input, plan, progress, cancellationToken);
    }

    /// <summary>
    /// How a batch of <paramref name="batch"/> images of <paramref name="height"/>×<paramref name="width"/> will run
    /// within the memory budget: in one pass, in <see cref="RestorerOptions.TileSize"/> tiles, or in the largest tile
    /// that fits. Measures the network's working memory on a small probe the first time an image is too large to be
    /// obviously safe.
    /// </summary>
    /// <param name="batch">Images per pass.</param>
    /// <param name="channels">Input channels.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <param name="imageFile">An image file is restored: only the final output is kept (no embeddings), and the
    /// 8-bit image decoded from / encoded to the file is counted.</param>
    /// <exception cref="MemoryBudgetException">Not even the smallest tile fits, or the image buffers alone exceed the budget.</exception>
    public RestorePlan Plan(long batch, long channels, long height, long width, bool imageFile = false)
    {
        var budget = Options.MemoryBudgetBytes ?? MemoryPlanner.DefaultBudget();
        var (bottom, right) = Padding.Amount(height, width, Info.SizeMultiple);
        long hp = height + bottom, wp = width + right, pixels = batch * hp * wp;
        // The input as given, its padded copy (when padding is needed) and the decoded 8-bit file image.
        long buffers = batch * channels * height * width * 4 + (bottom + right > 0 ? channels * pixels * 4 : 0)
                       + (imageFile ? height * width * 4 : 0);
        var what = $"Restoring a {MemoryPlanner.Size(height, width)} image";
        // Host memory is what the budget protects; on a GPU the network's memory is the device's.
        if (Device.type != DeviceType.CPU) return new RestorePlan(Options.TileSize, false, budget, buffers, 0);
        if (buffers + pixels * MemoryPlanner.UnmeasuredBytesPerPixel <= budget)
            return new RestorePlan(Options.TileSize, false, budget, buffers + pixels * MemoryPlanner.UnmeasuredBytesPerPixel, 0);

        var cost = _tileCost ??= MemoryPlanner.Probe(Forward, Info.InputChannels, ProbeSide(), Device);
        long outputs = imageFile ? cost.FinalOutput : cost.AllOutputs;
        long perPixel = (long)((Options.WorkingBytesPerPixel ?? cost.Working ?? MemoryPlanner.FallbackBytesPerPixel) * MemoryPlanner.Safety);
        long whole = buffers + pixels * perPixel;
        if (Options.TileSize is null && whole <= budget) return new RestorePlan(null, false, budget, whole, perPixel);

        // Tiled: the stitched outputs (and one count plane each) cover the whole image; one tile's working memory on top.
        long stitched = buffers + pixels * outputs;
        long side = Math.Min(hp, wp);
        if (Options.TileSize is { } fixedTile)
        {
            long t = Math.Min(fixedTile, side);
            long need = stitched + batch * t * t * perPixel;
            if (need > budget) throw MemoryPlanner.Refuse($"{what} in {t}-pixel tiles", need, budget, "use a smaller tile (--tile) or " + MemoryPlanner.Advice);
            return new RestorePlan(fixedTile, false, budget, need, perPixel);
        }
        int m = Info.SizeMultiple;
        long smallest = (Options.TileOverlap / m + 1) * m;
        long smallestNeed = stitched + batch * smallest * smallest * perPixel;
        if (smallestNeed > budget) throw MemoryPlanner.Refuse(what, smallestNeed, budget);
        long tile = (long)Math.Sqrt((budget - stitched) / (double)(batch * perPixel)) / m * m;
        tile = Math.Clamp(tile, smallest, side);
        _logger.LogInformation("{What}: tiles of {Tile} pixels to stay within {Budget} ({PerPixel} per pixel)", what, tile, MemoryPlanner.Format(budget), MemoryPlanner.Format(perPixel));
        return new RestorePlan((int)tile, true, budget, stitched + batch * tile * tile * perPixel, perPixel);
    }

    private int ProbeSide() => (MemoryPlanner.ProbeSide + Info.SizeMultiple - 1) / Info.SizeMultiple * Info.SizeMultiple;

    private void CheckInput(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() is not (3 or 4))
            throw new TensorArgumentException("input", $"expected NCHW or CHW, got [{string.Join(",", input.shape)}].");
        if (input.shape.Any(d => d == 0))
            throw new TensorArgumentException("input", $"has an empty dimension: [{string.Join(",", input.shape)}].");
        if (!input.is_floating_point())
            throw new TensorArgumentException("input", $"expected a floating-point image in [0,1], got {input.dtype}.");
        var channels = input.shape[input.dim() == 3 ? 0 : 1];
        if (channels != Info.InputChannels)
            throw new TensorArgumentException("input", $"{Info.Arch} expects {Info.InputChannels} channels, got {channels} ([{string.Join(",", input.shape)}]).");
        FiniteCheck.Tensor("input", "input", input);
    }

    private IReadOnlyDictionary<string, Tensor> RestoreNamed(Tensor input, RestorePlan plan, IProgress<TileProgress>? progress, CancellationToken cancellationToken,
        bool finalOnly = false)
    {
        // An image file needs only the final image: other outputs (embeddings) are dropped per tile, never stitched.
        Func<Tensor, IReadOnlyDictionary<string, Tensor>> forward = finalOnly ? FinalOnly : Forward;
        cancellationToken.ThrowIfCancellationRequested();
        var chw = input.dim() == 3;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var precision = MixedPrecision.Enter(Options.Precision);
        var x = (chw ? input.unsqueeze(0) : input).to(float32).to(Device);
        long h = x.shape[2], w = x.shape[3];
        var padded = Padding.PadToMultiple(x, Info.SizeMultiple, Info.PadMode);
        if (Options.ChannelsLast && Device.type == DeviceType.CPU) padded = MemoryLayout.ToChannelsLast(padded);

        IReadOnlyDictionary<string, Tensor> raw;
        if (plan.TileSize is { } tile)
        {
            var dropped = new List<string>();
            raw = TiledRestorer.RunNamed(forward, padded, tile, Info.SizeMultiple, Options.TileOverlap, progress, cancellationToken, dropped);
            if (!raw.ContainsKey(INamedOutputs.Final))
                throw new TensorArgumentException("output", $"the {Info.Arch} output could not be stitched from tiles.");
            if (dropped.Count > 0)
                _logger.LogWarning("Tiled inference left out {Outputs}: their scale does not fit the tile grid", string.Join(", ", dropped));
        }
        else
        {
            raw = forward(padded);
        }

        var result = new Dictionary<string, Tensor>();
        foreach (var (key, value) in raw)
        {
            // A NaN/∞ output would be written as a flat or two-colour image: refuse it, naming the output.
            FiniteCheck.Tensor("output", key, value);
            // float32, plain NCHW memory whatever the precision and layout the network computed in.
            var cropped = CropOutput(value, padded.shape[2], padded.shape[3], h, w).to(CPU).to(float32).contiguous();
            if (chw && cropped.dim() == 4 && cropped.shape[0] == 1) cropped = cropped.squeeze(0);
            result[key] = cropped.MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>
    /// Restores one image file and writes the result in the format the output's extension names (PNG, JPEG or BMP;
    /// 8-bit, clamped to [0,1]). The output format and the memory plan are checked before the image is decoded.
    /// </summary>
    /// <exception cref="ImageDecodeException">The input cannot be read.</exception>
    /// <exception cref="ArgumentException">The output extension names no supported format.</exception>
    /// <exception cref="MemoryBudgetException">The image cannot be restored within the budget (it was not decoded).</exception>
    public void RestoreImageFile(string inputPath, string outputPath, IProgress<TileProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputPath);
        ArgumentNullException.ThrowIfNull(outputPath);
        var format = ImageTensor.FormatOf(outputPath);
        var header = ImageTensor.Identify(inputPath);
        var plan = Plan(1, Info.InputChannels, header.Height, header.Width, imageFile: true);
        using var scope = NewDisposeScope();
        var image = LoadForModel(inputPath);
        var outputs = RestoreNamed(image, plan, progress, cancellationToken, finalOnly: true);
        ImageTensor.Save(outputs[INamedOutputs.Final], outputPath, format);
    }

    /// <summary>
    /// Restores image files one by one (each pair is input → output, in the format of the output's extension),
    /// reporting progress per file. A file that cannot be restored (unreadable, NaN output, too large for the
    /// budget, not writable) is skipped and returned with its reason, and the others are still restored; with
    /// <paramref name="failFast"/> the first such error is thrown instead.
    /// </summary>
    /// <returns>The skipped files, in order (empty when every file was restored).</returns>
    public IReadOnlyList<FileFailure> RestoreImageFiles(IReadOnlyList<(string Input, string Output)> files, IProgress<FileProgress>? progress = null,
        CancellationToken cancellationToken = default, bool failFast = false)
    {
        ArgumentNullException.ThrowIfNull(files);
        var failures = new List<FileFailure>();
        for (var i = 0; i < files.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (input, output) = files[i];
            _logger.LogDebug("Restoring {Input} -> {Output}", input, output);
            try
            {
                RestoreImageFile(input, output, null, cancellationToken);
            }
            catch (Exception e) when (!failFast && e is DaRcotException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                // Returned, not logged as a warning: the caller reports the list (the CLI prints it at the end).
                _logger.LogDebug("Skipped {Input}: {Reason}", input, e.Message);
                failures.Add(new FileFailure(input, e.Message));
            }
            progress?.Report(new FileProgress(i + 1, files.Count, input));
        }
        return failures;
    }

    /// <summary>Loads an image with the channels the model reads: RGB, or luminance (ITU-R BT.601, as OpenCV's
    /// greyscale read) for 1-channel models.</summary>
    public Tensor LoadForModel(string path)
    {
        if (Info.InputChannels == 3) return ImageTensor.Load(path);
        if (Info.InputChannels != 1)
            throw new TensorArgumentException("input", $"{Info.Arch} reads {Info.InputChannels} channels, which an image file cannot provide; pass a tensor (.safetensors) instead.");
        var image = ImageTensor.Load(path, new ImageLoadOptions { Channels = ChannelMode.KeepChannels });
        if (image.shape[1] == 1) return image;
        using (image)
        {
            using var weights = tensor(new[] { 0.299f, 0.587f, 0.114f }).view(1, 3, 1, 1);
            return (image * weights).sum(1, keepdim: true);
        }
    }

    /// <summary>Disposes the model when this restorer owns it.</summary>
    public void Dispose()
    {
        if (_ownsModel) Model.Dispose();
    }

    private IReadOnlyDictionary<string, Tensor> FinalOnly(Tensor x)
    {
        var all = Forward(x);
        foreach (var (key, value) in all)
            if (key != INamedOutputs.Final) value.Dispose();
        return new Dictionary<string, Tensor> { [INamedOutputs.Final] = all[INamedOutputs.Final] };
    }

    private IReadOnlyDictionary<string, Tensor> Forward(Tensor x)
    {
        if (Model is INamedOutputs named) return named.ForwardNamed(x);
        return new Dictionary<string, Tensor> { [INamedOutputs.Final] = Model.forward(x) };
    }

    private static Tensor CropOutput(Tensor value, long paddedH, long paddedW, long h, long w)
    {
        if (value.dim() != 4) return value;
        long oh = value.shape[2], ow = value.shape[3];
        if (oh == paddedH && ow == paddedW) return Padding.Crop(value, h, w);
        // Reduced-scale outputs (embeddings): crop the padded area at their scale when the scale is an integer.
        if (oh > 0 && ow > 0 && paddedH % oh == 0 && paddedW % ow == 0)
        {
            long sh = paddedH / oh, sw = paddedW / ow;
            return Padding.Crop(value, (h + sh - 1) / sh, (w + sw - 1) / sw);
        }
        return value;
    }
}
