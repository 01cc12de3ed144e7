namespace DaRcot.Rec.Identification;

/// <summary>Settings of <see cref="Tsne"/>; the defaults are the usual ones of the t-SNE literature.</summary>
public sealed record TsneOptions
{
    /// <summary>Effective number of neighbours each point keeps (default 30; lowered to (n − 1)/3 for small sets).</summary>
    public double Perplexity { get; init; } = 30;

    /// <summary>Gradient steps (default 1000).</summary>
    public int Iterations { get; init; } = 1000;

    /// <summary>Steps during which the affinities are multiplied by <see cref="Exaggeration"/> (default 250).</summary>
    public int ExaggerationIterations { get; init; } = 250;

    /// <summary>Early exaggeration factor (default 12), which lets clusters form before they are spread out.</summary>
    public double Exaggeration { get; init; } = 12;

    /// <summary>Step size; null: max(n / exaggeration / 4, 50), the size-aware choice of Belkina et al. (2019).</summary>
    public double? LearningRate { get; init; }
}

/// <summary>
/// Exact t-SNE (van der Maaten &amp; Hinton, 2008): a non-linear 2-D map that keeps each point's nearest neighbours
/// near, used by the paper's Figure 4 to show that residual embeddings cluster by degradation. Exact (O(n²) per step),
/// which is fast for the few hundred embeddings of a plot; deterministic: it starts from the PCA projection (scaled
/// to a tiny spread) instead of random points, so the same vectors always give the same map.
/// </summary>
public static class Tsne
{
    private const double MinProbability = 1e-12;

    /// <summary>Maps <paramref name="vectors"/> (one per point, same length) to 2-D.</summary>
    /// <exception cref="ArgumentException">Fewer than 4 vectors, vectors of different lengths, or bad options.</exception>
    public static IReadOnlyList<(double X, double Y)> Embed(IReadOnlyList<float[]> vectors, TsneOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        options ??= new TsneOptions();
        var n = vectors.Count;
        if (n < 4) throw new ArgumentException($"t-SNE needs at least 4 vectors, got {n}.", nameof(vectors));
        if (options.Perplexity <= 1) throw new ArgumentException($"perplexity must be above 1, got {options.Perplexity}.", nameof(options));
        if (options.Iterations < 1 || options.ExaggerationIterations < 0) throw new ArgumentException("iterations must be positive.", nameof(options));

        var p = JointProbabilities(vectors, EffectivePerplexity(n, options));
        var y = Initial(vectors);
        Optimise(p, y, n, options);
        return Enumerable.Range(0, n).Select(i => (y[2 * i], y[2 * i + 1])).ToArray();
    }

    /// <summary>The perplexity used for <paramref name="count"/> points: the option, but at most (n − 1)/3 (each point
    /// needs about three times as many others as its effective neighbours) and at least 1.5.</summary>
    public static double EffectivePerplexity(int count, TsneOptions? options = null) =>
        Math.Max(Math.Min((options ?? new TsneOptions()).Perplexity, (count - 1) / 3.0), 1.5);

    /// <summary>Row i: the conditional probabilities p(j|i) ∝ exp(−β_i·|x_i − x_j|²), with β_i found by bisection so
    /// that the row's perplexity 2^H equals <paramref name="perplexity"/>. Row-major n×n, zero diagonal.</summary>
    internal static double[] ConditionalProbabilities(IReadOnlyList<float[]> vectors, double perplexity)
    {
        var n = vectors.Count;
        var d2 = SquaredDistances(vectors);
        var targetEntropy = Math.Log(perplexity);
        var p = new double[n * n];
        var row = new double[n];
        for (var i = 0; i < n; i++)
        {
            double beta = 1, low = double.NegativeInfinity, high = double.PositiveInfinity;
            // Distances are shifted by the row's smallest one, which cancels in the normalisation and keeps exp() finite.
            var nearest = double.PositiveInfinity;
            for (var j = 0; j < n; j++) if (j != i) nearest = Math.Min(nearest, d2[i * n + j]);
            for (var step = 0; step < 100; step++)
            {
                double sum = 0, weighted = 0;
                for (var j = 0; j < n; j++)
                {
                    if (j == i) { row[j] = 0; continue; }
                    var shifted = d2[i * n + j] - nearest;
                    row[j] = Math.Exp(-beta * shifted);
                    sum += row[j];
                    weighted += row[j] * shifted;
                }
                // Shannon entropy (nats) of the normalised row: log Σ + β·E[d].
                var entropy = Math.Log(sum) + beta * weighted / sum;
                for (var j = 0; j < n; j++) row[j] /= sum;
                var error = entropy - targetEntropy;
                if (Math.Abs(error) < 1e-5) break;
                if (error > 0)
                {
                    low = beta;
                    beta = double.IsPositiveInfinity(high) ? beta * 2 : (beta + high) / 2;
                }
                else
                {
                    high = beta;
                    beta = double.IsNegativeInfinity(low) ? beta / 2 : (beta + low) / 2;
                }
            }
            Array.Copy(row, 0, p, i * n, n);
        }
        return p;
    }

    // Symmetrised joint probabilities p_ij = (p(j|i) + p(i|j)) / 2n.
    private static double[] JointProbabilities(IReadOnlyList<float[]> vectors, double perplexity)
    {
        var n = vectors.Count;
        var conditional = ConditionalProbabilities(vectors, perplexity);
        var p = new double[n * n];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                p[i * n + j] = i == j ? 0 : Math.Max((conditional[i * n + j] + conditional[j * n + i]) / (2.0 * n), MinProbability);
        return p;
    }

    private static double[] SquaredDistances(IReadOnlyList<float[]> vectors)
    {
        var n = vectors.Count;
        var d = vectors[0].Length;
        if (vectors.Any(v => v.Length != d)) throw new ArgumentException("all vectors must have the same length.", nameof(vectors));
        var d2 = new double[n * n];
        for (var i = 0; i < n; i++)
            for (var j = i + 1; j < n; j++)
            {
                double s = 0;
                for (var k = 0; k < d; k++)
                {
                    var diff = (double)vectors[i][k] - vectors[j][k];
                    s += diff * diff;
                }
                d2[i * n + j] = d2[j * n + i] = s;
            }
        return d2;
    }

    // PCA coordinates scaled so the first axis has standard deviation 1e-4 (the usual tiny starting spread).
    private static double[] Initial(IReadOnlyList<float[]> vectors)
    {
        var (points, _, _) = EmbeddingProjection.Pca2(vectors);
        var n = points.Count;
        var mean = points.Average(q => q.X);
        var sd = Math.Sqrt(points.Sum(q => (q.X - mean) * (q.X - mean)) / n);
        var scale = sd > 0 ? 1e-4 / sd : 1;
        var y = new double[2 * n];
        for (var i = 0; i < n; i++)
        {
            y[2 * i] = points[i].X * scale;
            y[2 * i + 1] = points[i].Y * scale;
        }
        return y;
    }

    // Gradient descent with momentum and per-coordinate gains (Jacobs' delta-bar-delta), as in the original paper.
    private static void Optimise(double[] p, double[] y, int n, TsneOptions options)
    {
        var rate = options.LearningRate ?? Math.Max(n / options.Exaggeration / 4, 50);
        var gains = Enumerable.Repeat(1.0, 2 * n).ToArray();
        var velocity = new double[2 * n];
        var gradient = new double[2 * n];
        var kernel = new double[n * n];
        for (var iteration = 0; iteration < options.Iterations; iteration++)
        {
            var exaggeration = iteration < options.ExaggerationIterations ? options.Exaggeration : 1;
            var momentum = iteration < options.ExaggerationIterations ? 0.5 : 0.8;
            // Student-t kernel (1 + |y_i − y_j|²)⁻¹ and its sum, which normalises q_ij.
            double z = 0;
            for (var i = 0; i < n; i++)
                for (var j = i + 1; j < n; j++)
                {
                    double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                    var k = 1 / (1 + dx * dx + dy * dy);
                    kernel[i * n + j] = kernel[j * n + i] = k;
                    z += 2 * k;
                }
            Array.Clear(gradient);
            for (var i = 0; i < n; i++)
                for (var j = 0; j < n; j++)
                {
                    if (i == j) continue;
                    var k = kernel[i * n + j];
                    var force = 4 * (exaggeration * p[i * n + j] - Math.Max(k / z, MinProbability)) * k;
                    gradient[2 * i] += force * (y[2 * i] - y[2 * j]);
                    gradient[2 * i + 1] += force * (y[2 * i + 1] - y[2 * j + 1]);
                }
            for (var c = 0; c < 2 * n; c++)
            {
                gains[c] = Math.Sign(gradient[c]) != Math.Sign(velocity[c]) ? gains[c] + 0.2 : Math.Max(gains[c] * 0.8, 0.01);
                velocity[c] = momentum * velocity[c] - rate * gains[c] * gradient[c];
                y[c] += velocity[c];
            }
            // Keep the map centred (the objective does not depend on a shift).
            for (var axis = 0; axis < 2; axis++)
            {
                double centre = 0;
                for (var i = 0; i < n; i++) centre += y[2 * i + axis];
                centre /= n;
                for (var i = 0; i < n; i++) y[2 * i + axis] -= centre;
            }
        }
    }
}
