using DaRcot.Rec.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Inference;

public class TiledRestorerTests
{
    [Fact]
    public void Origins_follow_the_official_range_plus_a_flush_last_tile()
    {
        // list(range(0, 100 - 32, 24)) + [100 - 32]
        Assert.Equal(new long[] { 0, 24, 48, 68 }, TiledRestorer.Origins(100, 32, 24));
        Assert.Equal(new long[] { 0 }, TiledRestorer.Origins(32, 32, 24));
    }

    [Fact]
    public void Overlapping_outputs_are_averaged_by_their_count()
    {
        // 16×16, tile 8, overlap 4 → origins 0, 4, 8 on both axes: 9 tiles, numbered 1..9 row-major; each tile
        // returns its number everywhere, so a pixel gets the mean of the numbers of the tiles covering it.
        var calls = 0;
        var reports = new List<TileProgress>();
        using var input = zeros(1, 2, 16, 16);
        using var y = TiledRestorer.Run(t => full_like(t, ++calls), input, tile: 8, multiple: 8, overlap: 4,
            progress: new InlineProgress<TileProgress>(reports.Add));
        Assert.Equal(9, calls);
        Assert.Equal(new long[] { 1, 2, 16, 16 }, y.shape);
        Assert.Equal(1f, y[0, 0, 0, 0].item<float>());
        Assert.Equal(3f, y[0, 1, 5, 5].item<float>());   // tiles 1, 2, 4, 5
        Assert.Equal(5.5f, y[0, 0, 8, 0].item<float>()); // tiles 4, 7
        Assert.Equal(7.5f, y[0, 0, 12, 4].item<float>()); // row origin 8 only; column origins 0 and 4 → tiles 7, 8
        Assert.Equal(9f, y[0, 0, 15, 15].item<float>());
        Assert.Equal(new TileProgress(9, 9), reports[^1]);
        Assert.Equal(9, reports.Count);
    }

    [Fact]
    public void Named_outputs_at_a_reduced_scale_are_stitched_at_that_scale()
    {
        using var input = rand(1, 3, 32, 48, generator: new Generator(7));
        var dropped = new List<string>();
        var outputs = TiledRestorer.RunNamed(t => new Dictionary<string, Tensor>
        {
            ["output"] = t * 2,
            ["embedding"] = nn.functional.avg_pool2d(t, 8),
            ["odd"] = t[.., .., ..3, ..5],
        }, input, tile: 16, multiple: 8, overlap: 8, dropped: dropped);
        Assert.Equal(0, (outputs["output"] - input * 2).abs().max().item<float>(), 6);
        using var expected = nn.functional.avg_pool2d(input, 8);
        Assert.Equal(new long[] { 1, 3, 4, 6 }, outputs["embedding"].shape);
        Assert.Equal(0, (outputs["embedding"] - expected).abs().max().item<float>(), 6);
        Assert.False(outputs.ContainsKey("odd"));
        Assert.Equal(new[] { "odd" }, dropped);
    }

    [Fact]
    public void Bad_tiles_and_cancellation_are_refused()
    {
        using var input = zeros(1, 1, 32, 32);
        Assert.Throws<ArgumentOutOfRangeException>(() => TiledRestorer.Run(t => t.clone(), input, tile: 12, multiple: 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => TiledRestorer.Run(t => t.clone(), input, tile: 16, multiple: 8, overlap: 16));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => TiledRestorer.Run(t => t.clone(), input, tile: 16, multiple: 8, overlap: 8, cancellationToken: cts.Token));
    }
}

/// <summary>Reports synchronously (System.Progress posts to the thread pool).</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
