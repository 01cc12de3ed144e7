using DaRcot.Rec.Checkpoints;
using static TorchSharp.torch;

namespace DaRcot.Rec.Identification;

/// <summary>
/// Projects pooled residual embeddings (<see cref="DegradationIdentifier.Embed"/>) to two dimensions and draws them
/// coloured by degradation, as the paper's Figure 4 does: PCA here (linear, deterministic, no tuning), t-SNE (the
/// paper's choice) in <see cref="Tsne"/>.
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

    /// <summary>Leave-one-out k-nearest-neighbour accuracy of <paramref name="labels"/> in the 2-D map: the share of points
    /// whose k nearest other points mostly carry their own label (ties count as wrong). A number for how well a
    /// projection separates the classes.</summary>
    public static double NeighbourAccuracy(IReadOnlyList<(double X, double Y)> points, IReadOnlyList<string> labels, int k = 5)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(labels);
        if (points.Count != labels.Count) throw new ArgumentException("one label per point is needed.", nameof(labels));
        if (points.Count < 2) throw new ArgumentException("at least two points are needed.", nameof(points));
        k = Math.Min(k, points.Count - 1);
        var right = 0;
        for (var i = 0; i < points.Count; i++)
        {
            var votes = Enumerable.Range(0, points.Count).Where(j => j != i)
                .OrderBy(j => Sq(points[i].X - points[j].X) + Sq(points[i].Y - points[j].Y)).ThenBy(j => j)
                .Take(k).GroupBy(j => labels[j]).Select(g => (Label: g.Key, Count: g.Count())).OrderByDescending(g => g.Count).ToArray();
            if (votes[0].Label == labels[i] && (votes.Length == 1 || votes[1].Count < votes[0].Count)) right++;
        }
        return (double)right / points.Count;
    }

    private static double Sq(double v) => v * v;

    /// <summary>Writes a scatter plot of <paramref name="points"/>, one colour and legend entry per label (PNG, atomically).</summary>
    /// <param name="path">PNG to write.</param>
    /// <param name="points">The 2-D points.</param>
    /// <param name="labels">One label per point (one colour per label).</param>
    /// <param name="title">Plot title.</param>
    /// <param name="axes">Axis captions (default: principal components 1 and 2).</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    public static void WritePlot(string path, IReadOnlyList<(double X, double Y)> points, IReadOnlyList<string> labels, string title,
        (string X, string Y)? axes = null, int width = 800, int height = 600)
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
        var (xLabel, yLabel) = axes ?? ("principal component 1", "principal component 2");
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend();
        var png = plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
        AtomicFile.Write(path, s => s.Write(png, 0, png.Length));
    }
}
