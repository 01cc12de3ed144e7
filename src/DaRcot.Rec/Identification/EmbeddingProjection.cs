using DaRcot.Rec.Checkpoints;
using static TorchSharp.torch;

namespace DaRcot.Rec.Identification;

/// <summary>
/// Projects pooled residual embeddings (<see cref="DegradationIdentifier.Embed"/>) to two dimensions and draws them
/// coloured by degradation, as the paper's Figure 4 does (which uses t-SNE; this uses PCA: linear, deterministic,
/// no tuning).
/// </summary>
public static class EmbeddingProjection
{
    /// <summary>The first two principal components of <paramref name="vectors"/> (centred; computed in float64 by an
    /// SVD), one point per vector, and the share of the variance each explains.</summary>
    public static (IReadOnlyList<(double X, double Y)> Points, double ExplainedX, double ExplainedY) Pca2(IReadOnlyList<float[]> vectors)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        if (vectors.Count < 2) throw new ArgumentException("at least two vectors are needed.", nameof(vectors));
        var d = vectors[0].Length;
        if (vectors.Any(v => v.Length != d)) throw new ArgumentException("all vectors must have the same length.", nameof(vectors));
        using var scope = NewDisposeScope();
        var data = vectors.SelectMany(v => v.Select(x => (double)x)).ToArray();
        var matrix = tensor(data, new long[] { vectors.Count, d }, ScalarType.Float64);
        var centred = matrix.sub(matrix.mean(new long[] { 0 }, keepdim: true));
        var (_, singular, vh) = linalg.svd(centred, fullMatrices: false);
        var projected = centred.matmul(vh.narrow(0, 0, 2).t());
        var xy = projected.data<double>().ToArray();
        var variance = singular.data<double>().Select(s => s * s).ToArray();
        var total = variance.Sum();
        var points = Enumerable.Range(0, vectors.Count).Select(i => (xy[2 * i], xy[2 * i + 1])).ToArray();
        return (points, total > 0 ? variance[0] / total : 0, total > 0 && variance.Length > 1 ? variance[1] / total : 0);
    }

    /// <summary>Writes a scatter plot of <paramref name="points"/>, one colour and legend entry per label (PNG, atomically).</summary>
    public static void WritePlot(string path, IReadOnlyList<(double X, double Y)> points, IReadOnlyList<string> labels, string title, int width = 800, int height = 600)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(labels);
        if (points.Count != labels.Count) throw new ArgumentException("one label per point is needed.", nameof(labels));
        var plot = new ScottPlot.Plot();
        foreach (var group in labels.Select((l, i) => (l, i)).GroupBy(p => p.l))
        {
            var xs = group.Select(p => points[p.i].X).ToArray();
            var ys = group.Select(p => points[p.i].Y).ToArray();
            var scatter = plot.Add.ScatterPoints(xs, ys);
            scatter.LegendText = group.Key;
            scatter.MarkerSize = 7;
        }
        plot.Title(title);
        plot.XLabel("principal component 1");
        plot.YLabel("principal component 2");
        plot.ShowLegend();
        var png = plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
        AtomicFile.Write(path, s => s.Write(png, 0, png.Length));
    }
}
