using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Imaging;

/// <summary>Progress of a tiled run: tiles finished and tiles in all.</summary>
/// <param name="Done">Tiles finished.</param>
/// <param name="Total">Tiles in all.</param>
public readonly record struct TileProgress(int Done, int Total);

/// <summary>
/// Runs a network tile by tile, with the semantics of the official Restormer demo: square tiles of
/// min(tile, H, W), a multiple of the network's size requirement; consecutive tiles overlap by <c>overlap</c> pixels
/// (stride = tile − overlap); the last tile of each row/column sits flush with the border; every output pixel is
/// the mean of the tiles that cover it. Memory then depends on the tile, not on the image.
/// </summary>
public static class TiledRestorer
{
    /// <summary>The default overlap of the official demo.</summary>
    public const int DefaultOverlap = 32;

    /// <summary>Tile origins along one axis of length <paramref name="size"/> (the official
    /// <c>list(range(0, size - tile, stride)) + [size - tile]</c>).</summary>
    public static IReadOnlyList<long> Origins(long size, long tile, long stride)
    {
        if (tile > size) throw new ArgumentOutOfRangeException(nameof(tile), tile, $"The tile cannot exceed the image side {size}.");
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(stride), stride, "The stride (tile − overlap) must be ≥ 1.");
        var origins = new List<long>();
        for (long i = 0; i < size - tile; i += stride) origins.Add(i);
        origins.Add(size - tile);
        return origins;
    }

    /// <summary>
    /// Restores <paramref name="input"/> (NCHW; H and W already multiples of <paramref name="multiple"/>) tile by tile
    /// with a single-output network.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The tile is not a multiple of <paramref name="multiple"/>, or the
    /// overlap is not smaller than the tile.</exception>
    public static Tensor Run(Func<Tensor, Tensor> network, Tensor input, int tile, int multiple, int overlap = DefaultOverlap,
        IProgress<TileProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        var outputs = RunNamed(t => new Dictionary<string, Tensor> { ["output"] = network(t) }, input, tile, multiple, overlap, progress, cancellationToken);
        return outputs["output"];
    }

    /// <summary>
    /// Like <see cref="Run"/> for a network with several named outputs. Every output is stitched at its own scale:
    /// an output whose tile is s times smaller than the input tile (e.g. an embedding at 1/8) is stitched on an s
    /// times smaller canvas, provided every tile origin and the image size are multiples of s. Outputs that cannot be
    /// stitched that way are left out of the result and their names added to <paramref name="dropped"/>.
    /// </summary>
    public static IReadOnlyDictionary<string, Tensor> RunNamed(Func<Tensor, IReadOnlyDictionary<string, Tensor>> network, Tensor input,
        int tile, int multiple, int overlap = DefaultOverlap, IProgress<TileProgress>? progress = null, CancellationToken cancellationToken = default,
        ICollection<string>? dropped = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() != 4) throw new ArgumentException($"Expected NCHW, got rank {input.dim()}.", nameof(input));
        if (multiple < 1) throw new ArgumentOutOfRangeException(nameof(multiple), multiple, "The size multiple must be ≥ 1.");
        if (tile < 1) throw new ArgumentOutOfRangeException(nameof(tile), tile, "The tile size must be ≥ 1.");
        long h = input.shape[2], w = input.shape[3];
        long size = Math.Min(tile, Math.Min(h, w));
        if (size % multiple != 0)
            throw new ArgumentOutOfRangeException(nameof(tile), tile, $"The tile size {size} must be a multiple of {multiple}.");
        if (overlap < 0 || overlap >= size)
            throw new ArgumentOutOfRangeException(nameof(overlap), overlap, $"The overlap must be ≥ 0 and smaller than the tile size {size}.");

        var rows = Origins(h, size, size - overlap);
        var cols = Origins(w, size, size - overlap);
        var total = rows.Count * cols.Count;

        using var outer = NewDisposeScope();
        var sums = new Dictionary<string, (Tensor Sum, Tensor Count, long Scale)>();
        var skipped = new HashSet<string>();
        var done = 0;
        foreach (var y in rows)
        {
            foreach (var x in cols)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using (var inner = NewDisposeScope())
                {
                    var patch = input[.., .., TensorIndex.Slice(y, y + size), TensorIndex.Slice(x, x + size)];
                    foreach (var (key, value) in network(patch))
                    {
                        if (skipped.Contains(key)) continue;
                        if (!sums.TryGetValue(key, out var acc))
                        {
                            var scale = ScaleOf(value, size, h, w, rows, cols);
                            if (scale is null) { skipped.Add(key); dropped?.Add(key); continue; }
                            var s = scale.Value;
                            var sum = zeros([value.shape[0], value.shape[1], h / s, w / s], value.dtype, value.device).MoveToOuterDisposeScope();
                            var count = zeros([1, 1, h / s, w / s], value.dtype, value.device).MoveToOuterDisposeScope();
                            acc = (sum, count, s);
                            sums[key] = acc;
                        }
                        long ys = y / acc.Scale, xs = x / acc.Scale, ts = size / acc.Scale;
                        var region = TensorIndex.Slice(ys, ys + ts);
                        var regionX = TensorIndex.Slice(xs, xs + ts);
                        acc.Sum[.., .., region, regionX].PlusInPlace(value);
                        acc.Count[.., .., region, regionX].PlusInPlace(Scalars.One);
                    }
                }
                // The tile's activations are freed; return their pages so memory stays flat over thousands of tiles.
                Files.NativeHeap.ReleaseFreed();
                progress?.Report(new TileProgress(++done, total));
            }
        }

        var result = new Dictionary<string, Tensor>();
        // In place: a second image-sized tensor for the quotient would double the stitching memory.
        foreach (var (key, acc) in sums) result[key] = acc.Sum.div_(acc.Count).MoveToOuterDisposeScope();
        return result;
    }

    // The integer factor by which an output tile is smaller than the input tile, or null when it cannot be stitched.
    private static long? ScaleOf(Tensor value, long size, long h, long w, IReadOnlyList<long> rows, IReadOnlyList<long> cols)
    {
        if (value.dim() != 4 || value.shape[2] != value.shape[3] || value.shape[2] < 1 || size % value.shape[2] != 0) return null;
        var s = size / value.shape[2];
        if (h % s != 0 || w % s != 0 || rows.Any(r => r % s != 0) || cols.Any(c => c % s != 0)) return null;
        return s;
    }
}
