using DaRcot.Rec.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Samplers;

/// <summary>A decoded image kept in managed memory: planar float32 values in [0,1].</summary>
/// <param name="Data">C·H·W values, channel-major. Shared by every reader of the cache: treat it as read-only.</param>
/// <param name="Channels">C.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
public sealed record DecodedImage(float[] Data, int Channels, int Height, int Width)
{
    /// <summary>A new CPU tensor <c>[C,H,W]</c> with a copy of the values.</summary>
    public Tensor ToTensor() => torch.tensor(Data, new long[] { Channels, Height, Width }, dtype: ScalarType.Float32);

    /// <summary>
    /// A new CPU tensor <c>[C,<paramref name="height"/>,<paramref name="width"/>]</c> with a copy of only the window
    /// whose top-left pixel is (<paramref name="top"/>, <paramref name="left"/>).
    /// </summary>
    /// <remarks>Training takes one small patch from a large cached image per sample; copying just the window (rather
    /// than materialising the whole image as a tensor and narrowing it) keeps the per-sample cost proportional to the
    /// patch. The result owns its memory, so the caller may dispose it freely.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">The window is empty or not inside the image.</exception>
    public Tensor CropToTensor(int top, int left, int height, int width)
    {
        if (height < 1 || width < 1) throw new ArgumentOutOfRangeException(nameof(height), $"window {width}x{height} must be non-empty.");
        if (top < 0 || left < 0 || (long)top + height > Height || (long)left + width > Width)
            throw new ArgumentOutOfRangeException(nameof(top), $"window {width}x{height} at (top {top}, left {left}) is not inside the {Width}x{Height} image.");
        var patch = new float[(long)Channels * height * width];
        var source = Data.AsSpan();
        int o = 0;
        for (int c = 0; c < Channels; c++)
        {
            long plane = (long)c * Height * Width;
            for (int y = 0; y < height; y++, o += width)
                source.Slice((int)(plane + (long)(top + y) * Width + left), width).CopyTo(patch.AsSpan(o, width));
        }
        return torch.tensor(patch, new long[] { Channels, height, width }, dtype: ScalarType.Float32);
    }

    /// <summary>Copies a <c>[1,C,H,W]</c> or <c>[C,H,W]</c> tensor into managed memory.</summary>
    public static DecodedImage FromTensor(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var scope = torch.NewDisposeScope();
        var x = image.dim() == 4 ? image.squeeze(0) : image;
        if (x.dtype != ScalarType.Float32) x = x.to(ScalarType.Float32);
        if (x.device_type != DeviceType.CPU) x = x.cpu();
        // One copy, straight from the tensor's memory into the array that is cached (no intermediate tensor).
        var data = x.contiguous().data<float>().ToArray();
        return new DecodedImage(data, (int)x.shape[0], (int)x.shape[1], (int)x.shape[2]);
    }

    /// <summary>Bytes of pixel data held (what the cache's byte bound counts).</summary>
    internal long ByteSize => (long)Data.Length * sizeof(float);
}

/// <summary>
/// A thread-safe, bounded least-recently-used cache of decoded images, so that repeated sources (the official lists
/// repeat Rain100L ×360) are decoded once while memory stays bounded.
/// </summary>
/// <remarks>
/// Images are held as managed arrays, not tensors, so no native memory or dispose scope is tied to the cache and any
/// thread may read them. Concurrent misses on the same path wait for a single decode.
/// Decode errors (<see cref="Errors.ImageDecodeException"/>, naming the file) propagate to the caller and nothing is cached.
/// </remarks>
public sealed class ImageCache
{
    private readonly Func<string, DecodedImage> _load;
    private readonly object _gate = new();
    private readonly Dictionary<string, LinkedListNode<(string Key, DecodedImage Image)>> _map = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, DecodedImage Image)> _order = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<DecodedImage>> _inflight = new(StringComparer.Ordinal);
    private long _bytes;

    /// <summary>Creates the cache.</summary>
    /// <param name="capacity">Most images kept (0 disables caching).</param>
    /// <param name="maxBytes">Most bytes of pixel data kept (default 1 GiB).</param>
    /// <param name="load">Decoder; default <see cref="ImageTensor.Load"/> in RGB.</param>
    public ImageCache(int capacity = 256, long maxBytes = 1L << 30, Func<string, DecodedImage>? load = null)
    {
        if (capacity < 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "capacity must be >= 0.");
        if (maxBytes < 0) throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "maxBytes must be >= 0.");
        Capacity = capacity;
        MaxBytes = maxBytes;
        _load = load ?? LoadRgb;
    }

    /// <summary>Most images kept.</summary>
    public int Capacity { get; }

    /// <summary>Most bytes kept.</summary>
    public long MaxBytes { get; }

    /// <summary>Images currently cached.</summary>
    public int Count { get { lock (_gate) return _map.Count; } }

    /// <summary>Decodes performed so far (cache misses).</summary>
    public int Loads => _loads;

    private int _loads;

    /// <summary>Drops every cached image (their memory goes back to the GC).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _map.Clear();
            _order.Clear();
            _bytes = 0;
        }
    }

    /// <summary>The decoded image at <paramref name="path"/>, from the cache when present.</summary>
    /// <exception cref="Errors.ImageDecodeException">The file cannot be decoded (from the loader).</exception>
    public DecodedImage Get(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        lock (_gate)
        {
            if (_map.TryGetValue(path, out var node))
            {
                _order.Remove(node);
                _order.AddFirst(node);
                return node.Value.Image;
            }
        }
        // Single flight: concurrent misses on one path share one decode (the official lists repeat sources, so
        // several workers often want the same image at once). The factory re-checks the cache so that a request
        // arriving just after another one finished does not decode again.
        var pending = _inflight.GetOrAdd(path, p => new Lazy<DecodedImage>(() =>
        {
            lock (_gate)
                if (_map.TryGetValue(p, out var cached)) return cached.Value.Image;
            Interlocked.Increment(ref _loads);
            return _load(p);
        }, LazyThreadSafetyMode.ExecutionAndPublication));
        DecodedImage image;
        try
        {
            image = pending.Value;
        }
        catch
        {
            // Lazy caches exceptions: forget it so a later request retries.
            _inflight.TryRemove(new KeyValuePair<string, Lazy<DecodedImage>>(path, pending));
            throw;
        }
        long size = image.ByteSize;
        if (Capacity > 0 && size <= MaxBytes)
        {
            lock (_gate)
            {
                if (!_map.ContainsKey(path))
                {
                    _map[path] = _order.AddFirst((path, image));
                    _bytes += size;
                    while (_map.Count > Capacity || _bytes > MaxBytes)
                    {
                        var last = _order.Last!;
                        _order.RemoveLast();
                        _map.Remove(last.Value.Key);
                        _bytes -= last.Value.Image.ByteSize;
                    }
                }
            }
        }
        _inflight.TryRemove(new KeyValuePair<string, Lazy<DecodedImage>>(path, pending));
        return image;
    }

    private static DecodedImage LoadRgb(string path)
    {
        using var t = ImageTensor.Load(path);
        return DecodedImage.FromTensor(t);
    }
}
