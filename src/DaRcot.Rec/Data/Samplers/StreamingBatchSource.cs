using System.Collections.Concurrent;
using System.Threading.Channels;
using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Training;
using DaRcot.Rec.Training.Distributed;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Samplers;

/// <summary>Options of <see cref="StreamingBatchSource"/>.</summary>
public sealed record StreamingBatchOptions
{
    /// <summary>Samples per batch (official README: 2).</summary>
    public int BatchSize { get; init; } = 2;

    /// <summary>Square patch side (official: 128).</summary>
    public int PatchSize { get; init; } = 128;

    /// <summary>Pixels of real image around each patch that a synthetic degradation sees before the patch is cut out
    /// (0 = degrade the patch alone, as the official code does). A blur kernel applied to the patch alone has to invent
    /// what lies beyond the patch (by reflection): with the library's motion blur (21-pixel kernels) 21 % of a 64×64
    /// patch, on average over 2000 drawn kernels, is blurred partly from made-up content; with a context of half the kernel the patch is blurred exactly as the same region of the
    /// whole photo would be. The patch position and augmentation are the same draws as without context.</summary>
    public int SynthesisContext { get; init; }

    /// <summary>Images are first centre-cropped to multiples of this (official: 16; 1 = off).</summary>
    public int CropBase { get; init; } = 16;

    /// <summary>Base seed of all randomness (sampling, crops, augmentation, synthesis).</summary>
    public long Seed { get; init; }

    /// <summary>Flip/rotation policy (official: a mode from 1..7).</summary>
    public AugmentationPolicy Augmentation { get; init; } = AugmentationPolicy.OfficialNoIdentity;

    /// <summary>Shuffled passes (official) or weighted task draws.</summary>
    public SamplingMode Mode { get; init; } = SamplingMode.ShuffledEpoch;

    /// <summary>Task weights for <see cref="SamplingMode.Weighted"/> (null = proportional to item counts).</summary>
    public IReadOnlyDictionary<int, double>? TaskWeights { get; init; }

    /// <summary>Samples per epoch; 0 = the number of items.</summary>
    public int SamplesPerEpoch { get; init; }

    /// <summary>Drop the last partial batch (official: false).</summary>
    public bool DropLast { get; init; }

    /// <summary>Targets from different images of the same task (see <see cref="MultiTaskSampler"/>). The source then
    /// reports <see cref="ITrainingBatchSource.TargetsDecorrelated"/>, and <see cref="OtTrainer"/> refuses its paired
    /// modes (<see cref="PairingMode.Paired"/>, <see cref="PairingMode.PartiallyPaired"/>) on it.</summary>
    public bool Unpaired { get; init; }

    /// <summary>Batches prepared ahead on a background thread (0 = build on the caller's thread).</summary>
    public int PrefetchBatches { get; init; } = 2;

    /// <summary>Threads decoding and cropping the samples of one batch.</summary>
    public int Workers { get; init; } = 2;

    /// <summary>Decoded images kept in the LRU cache.</summary>
    public int CacheCapacity { get; init; } = 256;

    /// <summary>Bytes of decoded pixels kept in the LRU cache.</summary>
    public long CacheBytes { get; init; } = 1L << 30;

    /// <summary>Stop at the first image that cannot be used (the old behaviour). By default such an image (unreadable,
    /// smaller than the patch, degraded and clean sizes differ) is skipped for the rest of the run: its samples take
    /// the next usable item, and it is listed in <see cref="StreamingBatchSource.SkippedFiles"/>.</summary>
    public bool FailFast { get; init; }

    /// <summary>Data-parallel training: this rank (0-based). Every batch then holds only this rank's rows of the global
    /// batch of <see cref="BatchSize"/> (<see cref="DataShard.Of"/>), and only those samples are built.</summary>
    public int ShardIndex { get; init; }

    /// <summary>Data-parallel training: number of ranks (1: the whole batch).</summary>
    public int ShardCount { get; init; } = 1;
}

/// <summary>
/// Streams training batches from disk: sampling (<see cref="MultiTaskSampler"/>), a bounded LRU cache of decoded images,
/// the official preprocessing (centre crop to multiples of 16, one aligned random patch, one flip/rotation mode for
/// both images, noise synthesised after augmentation), and a bounded prefetch channel filled off the training thread.
/// </summary>
/// <remarks>
/// Determinism: each sample's randomness is derived from (seed, epoch, sample index) (<see cref="SampleSeed"/>), and
/// batches are emitted in index order, so the same seed gives the same batches regardless of thread timing, and
/// <c>GetBatches(epoch, startBatch)</c> yields exactly the tail of the full epoch.
/// </remarks>
public sealed class StreamingBatchSource : ITrainingBatchSource, IDisposable
{
    private readonly StreamingBatchOptions _options;
    private readonly CancellationToken _cancellation;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, string> _skipped = new(StringComparer.Ordinal);

    /// <summary>Creates the source.</summary>
    /// <param name="items">Training items (e.g. from <see cref="OfficialTrainLayout"/> or <see cref="CleanFolderDataset"/>).</param>
    /// <param name="options">Options; defaults when null.</param>
    /// <param name="cache">A shared image cache; a new one sized by the options when null.</param>
    /// <param name="cancellationToken">Stops background loading.</param>
    /// <param name="logger">Receives one warning per skipped image.</param>
    public StreamingBatchSource(IReadOnlyList<TrainingItem> items, StreamingBatchOptions? options = null, ImageCache? cache = null,
        CancellationToken cancellationToken = default, ILogger? logger = null)
    {
        _options = options ?? new StreamingBatchOptions();
        _logger = logger ?? NullLogger.Instance;
        if (_options.BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), _options.BatchSize, "BatchSize must be >= 1.");
        if (_options.PatchSize < 1) throw new ArgumentOutOfRangeException(nameof(options), _options.PatchSize, "PatchSize must be >= 1.");
        if (_options.SynthesisContext < 0) throw new ArgumentOutOfRangeException(nameof(options), _options.SynthesisContext, "SynthesisContext must be >= 0.");
        if (_options.CropBase < 1) throw new ArgumentOutOfRangeException(nameof(options), _options.CropBase, "CropBase must be >= 1.");
        if (_options.PrefetchBatches < 0 || _options.Workers < 1) throw new ArgumentOutOfRangeException(nameof(options), "PrefetchBatches must be >= 0 and Workers >= 1.");
        if (_options.ShardCount < 1 || _options.ShardIndex < 0 || _options.ShardIndex >= _options.ShardCount)
            throw new ArgumentOutOfRangeException(nameof(options), $"ShardIndex {_options.ShardIndex} must be within 0..ShardCount-1 (ShardCount {_options.ShardCount}).");
        Sampler = new MultiTaskSampler(items, _options.Mode, _options.TaskWeights, _options.Seed, _options.Unpaired);
        _ownsCache = cache is null;
        Cache = cache ?? new ImageCache(_options.CacheCapacity, _options.CacheBytes);
        _cancellation = cancellationToken;
        SamplesPerEpoch = _options.SamplesPerEpoch > 0 ? _options.SamplesPerEpoch : items.Count;
    }

    private readonly bool _ownsCache;
    private bool _disposed;

    /// <summary>Releases the decoded images of a cache this source created (a cache passed in stays as it is); the
    /// source cannot be used afterwards (an enumeration already running throws <see cref="ObjectDisposedException"/> at
    /// its next batch).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsCache) Cache.Clear();
    }

    /// <summary>The sampler.</summary>
    public MultiTaskSampler Sampler { get; }

    /// <summary>The decoded-image cache.</summary>
    public ImageCache Cache { get; }

    /// <summary>Samples per epoch.</summary>
    public int SamplesPerEpoch { get; }

    /// <summary>Images skipped so far (path → reason), see <see cref="StreamingBatchOptions.FailFast"/>.</summary>
    public IReadOnlyDictionary<string, string> SkippedFiles => _skipped;

    /// <inheritdoc/>
    public int BatchesPerEpoch => _options.DropLast
        ? SamplesPerEpoch / _options.BatchSize
        : (SamplesPerEpoch + _options.BatchSize - 1) / _options.BatchSize;

    /// <summary>True with <see cref="StreamingBatchOptions.Unpaired"/>: every target is a different clean image
    /// than its input's, so the trainer accepts only its unpaired modes.</summary>
    public bool TargetsDecorrelated => _options.Unpaired;

    /// <inheritdoc/>
    public IEnumerable<TrainingBatch> GetBatches(int epoch, int startBatch = 0) => GetBatches(epoch, startBatch, CancellationToken.None);

    /// <summary>The batches of <paramref name="epoch"/> from <paramref name="startBatch"/>, prefetched in the background.</summary>
    /// <exception cref="ImageDecodeException">With <see cref="StreamingBatchOptions.FailFast"/>: a file cannot be decoded (raised when the batch that needs it is reached).</exception>
    /// <exception cref="ObjectDisposedException">The source was disposed.</exception>
    public IEnumerable<TrainingBatch> GetBatches(int epoch, int startBatch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (startBatch < 0 || startBatch > BatchesPerEpoch) throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"must be within 0..{BatchesPerEpoch}.");
        return _options.PrefetchBatches == 0 ? Synchronous(epoch, startBatch, cancellationToken) : Prefetched(epoch, startBatch, cancellationToken);
    }

    private IEnumerable<TrainingBatch> Synchronous(int epoch, int startBatch, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_cancellation, cancellationToken);
        for (int b = startBatch; b < BatchesPerEpoch; b++)
        {
            linked.Token.ThrowIfCancellationRequested();
            yield return BuildBatch(epoch, b);
        }
    }

    private IEnumerable<TrainingBatch> Prefetched(int epoch, int startBatch, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_cancellation, cancellationToken);
        var channel = Channel.CreateBounded<TrainingBatch>(new BoundedChannelOptions(_options.PrefetchBatches)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var token = linked.Token;
        var producer = Task.Run(async () =>
        {
            try
            {
                for (int b = startBatch; b < BatchesPerEpoch; b++)
                {
                    token.ThrowIfCancellationRequested();
                    var batch = BuildBatch(epoch, b);
                    try { await channel.Writer.WriteAsync(batch, token).ConfigureAwait(false); }
                    catch { batch.Dispose(); throw; }
                }
                channel.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                channel.Writer.TryComplete(ex);
            }
        }, CancellationToken.None);
        try
        {
            while (channel.Reader.WaitToReadAsync(token).AsTask().GetAwaiter().GetResult())
                while (channel.Reader.TryRead(out var batch))
                {
                    if (token.IsCancellationRequested)
                    {
                        batch.Dispose();
                        token.ThrowIfCancellationRequested();
                    }
                    yield return batch;
                }
        }
        finally
        {
            linked.Cancel();
            try { producer.GetAwaiter().GetResult(); } catch (OperationCanceledException) { }
            while (channel.Reader.TryRead(out var left)) left.Dispose();
        }
    }

    /// <summary>Builds batch <paramref name="batchIndex"/> of <paramref name="epoch"/> on the calling thread (with
    /// <see cref="StreamingBatchOptions.Workers"/> threads for its samples). The caller owns the result.</summary>
    /// <exception cref="ObjectDisposedException">The source was disposed.</exception>
    public TrainingBatch BuildBatch(int epoch, int batchIndex)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long start = (long)batchIndex * _options.BatchSize;
        int globalCount = (int)Math.Min(_options.BatchSize, SamplesPerEpoch - start);
        if (globalCount <= 0) throw new ArgumentOutOfRangeException(nameof(batchIndex), batchIndex, $"epoch has {BatchesPerEpoch} batches.");
        // Data-parallel: only this rank's rows of the global batch (all of them with one rank).
        var shard = DataShard.Of(globalCount, _options.ShardIndex, _options.ShardCount);
        long first = start + shard.Offset;
        int count = shard.Count;
        if (count == 0)
        {
            // Fewer rows than ranks (a short last batch): this rank has none; the trainer skips such batches on every rank.
            return new TrainingBatch(torch.zeros(0, 3, _options.PatchSize, _options.PatchSize), torch.zeros(0, 3, _options.PatchSize, _options.PatchSize), [])
            { GlobalOffset = shard.Offset, GlobalCount = globalCount };
        }
        var degraded = new Tensor[count];
        var targets = new Tensor[count];
        var tasks = new long[count];
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = _options.Workers, CancellationToken = _cancellation }, i =>
            {
                var (x, y, task) = BuildSample(epoch, first + i);
                degraded[i] = x;
                targets[i] = y;
                tasks[i] = task;
            });
            using var scope = torch.NewDisposeScope();
            var xb = torch.stack(degraded, 0);
            var yb = torch.stack(targets, 0);
            return new TrainingBatch(xb.MoveToOuterDisposeScope(), yb.MoveToOuterDisposeScope(), tasks) { GlobalOffset = shard.Offset, GlobalCount = globalCount };
        }
        catch (AggregateException ae) when (ae.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ae.InnerExceptions[0]).Throw();
            throw;
        }
        finally
        {
            foreach (var t in degraded) t?.Dispose();
            foreach (var t in targets) t?.Dispose();
        }
    }

    /// <summary>Builds one sample (degraded [C,P,P], target [C,P,P], task id). Tensors are not in any dispose scope.</summary>
    internal (Tensor Degraded, Tensor Target, int Task) BuildSample(int epoch, long index)
    {
        var draw = Sampler.Draw(epoch, index);
        using var scope = torch.NewDisposeScope();
        var (used, degraded, clean) = FirstUsable(draw.ItemIndex, -1, i =>
        {
            var item = Sampler.Items[i];
            var random = SampleSeed.CreateRandom(_options.Seed, epoch, index, stream: 2);
            var (input, cleanPatch) = item.InputPath is null ? CropAugmentAndSynthesize(item, random, epoch, index) : CropAndAugment(item, random);
            return (i, input, cleanPatch);
        });
        Tensor target = clean;
        if (draw.TargetItemIndex != draw.ItemIndex)
            target = FirstUsable(draw.TargetItemIndex, used, i =>
                CropOne(Sampler.Items[i].TargetPath, SampleSeed.CreateRandom(_options.Seed, epoch, index, stream: 4)));
        return (degraded.MoveToOuterDisposeScope(), target.MoveToOuterDisposeScope(), Sampler.Items[used].TaskId);
    }

    /// <summary>
    /// <paramref name="build"/> for item <paramref name="first"/>, or, when that item's images cannot be used, for the
    /// next usable item (in index order, skipping <paramref name="exclude"/>). Which item replaces a bad one depends
    /// only on which files are bad, never on thread timing, so batches stay deterministic.
    /// </summary>
    private T FirstUsable<T>(int first, int exclude, Func<int, T> build)
    {
        var items = Sampler.Items;
        for (int k = 0; k < items.Count; k++)
        {
            int i = (first + k) % items.Count;
            var item = items[i];
            if (i == exclude || _skipped.ContainsKey(item.TargetPath) || (item.InputPath is { } p && _skipped.ContainsKey(p))) continue;
            try
            {
                return build(i);
            }
            catch (DaRcotException e) when (!_options.FailFast)
            {
                var path = e is ImageDecodeException decode ? decode.Path : item.InputPath ?? item.TargetPath;
                if (_skipped.TryAdd(path, e.Message)) _logger.LogWarning("Skipping {Path} for the rest of the run: {Reason}", path, e.Message);
            }
        }
        throw new DaRcotException($"None of the {items.Count} training items can be used; first problem: {_skipped.Values.FirstOrDefault() ?? "none recorded"}");
    }

    private Tensor Synthesize(TrainingItem item, Tensor cleanPatch, int epoch, long index)
    {
        var synthesis = item.Synthesis ?? throw new DaRcotException($"Training item '{item.TargetPath}' has neither a degraded image nor a synthesiser.");
        using var generator = new torch.Generator(SampleSeed.Derive(_options.Seed, epoch, index, stream: 3), torch.CPU);
        return synthesis.Apply(cleanPatch.unsqueeze(0), generator).squeeze(0);
    }

    /// <summary>The aligned patches of a stored (degraded, clean) pair: one crop position and one flip/rotation for both.</summary>
    private (Tensor Input, Tensor Clean) CropAndAugment(TrainingItem item, Random random)
    {
        // Crops are computed on the cached image's dimensions and only the patch is copied out (never the whole
        // decoded image); the values are exactly those of centre-cropping, then narrowing a full tensor.
        var inputPath = item.InputPath!;
        var clean = Cache.Get(item.TargetPath);
        var cleanWindow = CentreCrop(clean);
        var input = Cache.Get(inputPath);
        var inputWindow = CentreCrop(input);
        if (input.Channels != clean.Channels || inputWindow.Height != cleanWindow.Height || inputWindow.Width != cleanWindow.Width)
            throw new DaRcotException($"Degraded image '{inputPath}' is {Shape(input.Channels, inputWindow)} but its clean image '{item.TargetPath}' is {Shape(clean.Channels, cleanWindow)}.");
        var (top, left) = DrawCrop(cleanWindow, inputPath, random);
        int mode = Augmentation.DrawMode(random, _options.Augmentation);
        return (Patch(input, inputWindow, top, left, mode), Patch(clean, cleanWindow, top, left, mode));
    }

    /// <summary>
    /// The patch of a synthesised item (a clean image and a degradation): crop, flip/rotate, then degrade (the official
    /// order, so e.g. rain streaks keep their direction distribution). With a
    /// <see cref="StreamingBatchOptions.SynthesisContext"/> of m the patch is grown by m pixels on every side first
    /// (mirrored where it runs past the image, as the degradations' own padding would do), so the degradation sees
    /// real surroundings; the patch stays at the centre under every flip/rotation and is cut out of the degraded and the
    /// clean region alike. m = 0 is exactly the official patch-alone synthesis.
    /// </summary>
    private (Tensor Degraded, Tensor Clean) CropAugmentAndSynthesize(TrainingItem item, Random random, int epoch, long index)
    {
        var clean = Cache.Get(item.TargetPath);
        var window = CentreCrop(clean);
        var (top, left) = DrawCrop(window, item.TargetPath, random);
        int mode = Augmentation.DrawMode(random, _options.Augmentation);
        int p = _options.PatchSize, m = _options.SynthesisContext;
        int regionTop = Math.Max(0, top - m), regionLeft = Math.Max(0, left - m);
        int regionBottom = Math.Min(window.Height, top + p + m), regionRight = Math.Min(window.Width, left + p + m);
        using var scope = torch.NewDisposeScope();
        var region = clean.CropToTensor(window.Top + regionTop, window.Left + regionLeft, regionBottom - regionTop, regionRight - regionLeft);
        long[] pad = [m - (left - regionLeft), m - (regionRight - left - p), m - (top - regionTop), m - (regionBottom - top - p)];
        if (pad.Any(v => v > 0))
        {
            // Reflection needs each pad smaller than the side it mirrors; a region thinner than that repeats its edge.
            var reflect = pad[0] < region.shape[2] && pad[1] < region.shape[2] && pad[2] < region.shape[1] && pad[3] < region.shape[1];
            region = nn.functional.pad(region.unsqueeze(0), pad, reflect ? PaddingModes.Reflect : PaddingModes.Replicate).squeeze(0);
        }
        if (mode != 0) region = Augmentation.Apply(region, mode);
        var degradedRegion = Synthesize(item, region, epoch, index);
        var degraded = degradedRegion.narrow(1, m, p).narrow(2, m, p).contiguous();
        var cleanPatch = region.narrow(1, m, p).narrow(2, m, p).contiguous();
        return (degraded.MoveToOuterDisposeScope(), cleanPatch.MoveToOuterDisposeScope());
    }

    private Tensor CropOne(string path, Random random)
    {
        var image = Cache.Get(path);
        var window = CentreCrop(image);
        var (top, left) = DrawCrop(window, path, random);
        int mode = Augmentation.DrawMode(random, _options.Augmentation);
        return Patch(image, window, top, left, mode);
    }

    /// <summary>Copies the P×P patch at (top, left) of the centre-cropped window and applies the augmentation mode.</summary>
    private Tensor Patch(DecodedImage image, Window window, int top, int left, int mode)
    {
        int p = _options.PatchSize;
        var patch = image.CropToTensor(window.Top + top, window.Left + left, p, p);
        // Mode 0 needs no further copy: the patch is already a fresh tensor the caller owns.
        if (mode == 0) return patch;
        using (patch) return Augmentation.Apply(patch, mode);
    }

    private (int Top, int Left) DrawCrop(Window window, string path, Random random)
    {
        int h = window.Height, w = window.Width, p = _options.PatchSize;
        if (h < p || w < p)
            throw new DaRcotException($"Image '{path}' is {w}x{h} after cropping to multiples of {_options.CropBase}, smaller than the {p}x{p} patch.");
        return (random.Next(h - p + 1), random.Next(w - p + 1));
    }

    /// <summary>Official <c>crop_img(base)</c>: drop (size mod base) pixels, half of them (rounded down) from the top/left.</summary>
    private Window CentreCrop(DecodedImage image)
    {
        int b = _options.CropBase;
        int h = image.Height, w = image.Width;
        int ch = h % b, cw = w % b;
        return new Window(ch / 2, cw / 2, h - ch, w - cw);
    }

    /// <summary>The centre-cropped region of a cached image, in its pixel coordinates.</summary>
    private readonly record struct Window(int Top, int Left, int Height, int Width);

    private static string Shape(int channels, Window window) => $"[{channels},{window.Height},{window.Width}]";
}
