using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Models;
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
}

/// <summary>Progress over a list of files: files finished, files in all, and the file just finished.</summary>
/// <param name="Done">Files finished.</param>
/// <param name="Total">Files in all.</param>
/// <param name="Current">The file just finished.</param>
public readonly record struct FileProgress(int Done, int Total, string Current);

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
    public Restorer(nn.Module<Tensor, Tensor> model, ArchInfo info, RestorerOptions? options = null, ILogger? logger = null, bool ownsModel = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(info);
        Options = options ?? new RestorerOptions();
        if (Options.TileSize is { } tile && (tile < 1 || tile % info.SizeMultiple != 0))
            throw new ArgumentOutOfRangeException(nameof(options), tile, $"The tile size must be a positive multiple of {info.SizeMultiple} for {info.Arch}.");
        if (Options.TileOverlap < 0) throw new ArgumentOutOfRangeException(nameof(options), Options.TileOverlap, "The tile overlap must be ≥ 0.");
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
    public static Restorer Load(string arch, string? configJson, string weightsPath, string? containerKey = null, RestorerOptions? options = null, ILogger? logger = null)
    {
        var (model, info) = ModelFactory.Create(arch, configJson);
        return LoadWeights(model, info, weightsPath, containerKey, options, logger);
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
            return new Restorer(model, info, options, logger, ownsModel: true);
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
    /// image with the same layout and size.</summary>
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
    /// <exception cref="TensorArgumentException">Wrong rank or channel count, or not floating point.</exception>
    public IReadOnlyDictionary<string, Tensor> RestoreNamed(Tensor input, IProgress<TileProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() is not (3 or 4))
            throw new TensorArgumentException("input", $"expected NCHW or CHW, got [{string.Join(",", input.shape)}].");
        if (!input.is_floating_point())
            throw new TensorArgumentException("input", $"expected a floating-point image in [0,1], got {input.dtype}.");
        var chw = input.dim() == 3;
        var channels = input.shape[chw ? 0 : 1];
        if (channels != Info.InputChannels)
            throw new TensorArgumentException("input", $"{Info.Arch} expects {Info.InputChannels} channels, got {channels} ([{string.Join(",", input.shape)}]).");
        cancellationToken.ThrowIfCancellationRequested();

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = (chw ? input.unsqueeze(0) : input).to(float32).to(Device);
        long h = x.shape[2], w = x.shape[3];
        var padded = Padding.PadToMultiple(x, Info.SizeMultiple, Info.PadMode);

        IReadOnlyDictionary<string, Tensor> raw;
        if (Options.TileSize is { } tile)
        {
            var dropped = new List<string>();
            raw = TiledRestorer.RunNamed(Forward, padded, tile, Info.SizeMultiple, Options.TileOverlap, progress, cancellationToken, dropped);
            if (!raw.ContainsKey(INamedOutputs.Final))
                throw new TensorArgumentException("output", $"the {Info.Arch} output could not be stitched from tiles.");
            if (dropped.Count > 0)
                _logger.LogWarning("Tiled inference left out {Outputs}: their scale does not fit the tile grid", string.Join(", ", dropped));
        }
        else
        {
            raw = Forward(padded);
        }

        var result = new Dictionary<string, Tensor>();
        foreach (var (key, value) in raw)
        {
            var cropped = CropOutput(value, padded.shape[2], padded.shape[3], h, w).to(CPU);
            if (chw && cropped.dim() == 4 && cropped.shape[0] == 1) cropped = cropped.squeeze(0);
            result[key] = cropped.MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>Restores one image file and writes the result as PNG (8-bit, clamped to [0,1]).</summary>
    /// <exception cref="ImageDecodeException">The input cannot be read.</exception>
    public void RestoreImageFile(string inputPath, string outputPath, IProgress<TileProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputPath);
        ArgumentNullException.ThrowIfNull(outputPath);
        using var scope = NewDisposeScope();
        var image = LoadForModel(inputPath);
        var restored = Restore(image, progress, cancellationToken);
        ImageTensor.SavePng(restored, outputPath);
    }

    /// <summary>Restores image files one by one (each pair is input → output PNG), reporting progress per file.</summary>
    public void RestoreImageFiles(IReadOnlyList<(string Input, string Output)> files, IProgress<FileProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        for (var i = 0; i < files.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (input, output) = files[i];
            _logger.LogDebug("Restoring {Input} -> {Output}", input, output);
            RestoreImageFile(input, output, null, cancellationToken);
            progress?.Report(new FileProgress(i + 1, files.Count, input));
        }
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
