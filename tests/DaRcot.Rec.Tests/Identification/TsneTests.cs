using DaRcot.Rec.Identification;

namespace DaRcot.Rec.Tests.Identification;

/// <summary>Exact t-SNE (<see cref="Tsne"/>): the calibrated affinities have the asked perplexity, separated clusters stay
/// separated in 2-D, and the map is deterministic.</summary>
public sealed class TsneTests
{
    // Three clusters of 25 points in 10-D: centres 8 apart on different axes, unit Gaussian spread (seeded).
    private static (List<float[]> Vectors, List<string> Labels) Clusters()
    {
        var random = new Random(42);
        var vectors = new List<float[]>();
        var labels = new List<string>();
        for (var c = 0; c < 3; c++)
            for (var i = 0; i < 25; i++)
            {
                var v = new float[10];
                for (var k = 0; k < v.Length; k++)
                {
                    // Box–Muller normal draw.
                    var normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                    v[k] = (float)normal + (k == c ? 8f : 0f);
                }
                vectors.Add(v);
                labels.Add("c" + c);
            }
        return (vectors, labels);
    }

    [Fact]
    public void Each_row_of_conditional_affinities_is_a_distribution_with_the_asked_perplexity()
    {
        var (vectors, _) = Clusters();
        var n = vectors.Count;
        var p = Tsne.ConditionalProbabilities(vectors, 10);
        for (var i = 0; i < n; i++)
        {
            Assert.Equal(0.0, p[i * n + i]);
            double sum = 0, entropy = 0;
            for (var j = 0; j < n; j++)
            {
                var q = p[i * n + j];
                sum += q;
                if (q > 0) entropy -= q * Math.Log(q);
            }
            Assert.Equal(1.0, sum, 9);
            // Perplexity is e^H for H in nats.
            Assert.InRange(Math.Exp(entropy), 10 * (1 - 1e-3), 10 * (1 + 1e-3));
        }
    }

    [Fact]
    public void Separated_clusters_stay_separated_and_the_map_is_deterministic()
    {
        var (vectors, labels) = Clusters();
        var options = new TsneOptions { Perplexity = 15, Iterations = 500 };
        var first = Tsne.Embed(vectors, options);
        var second = Tsne.Embed(vectors, options);
        Assert.Equal(first, second);
        Assert.Equal(1.0, EmbeddingProjection.NeighbourAccuracy(first, labels), 12);
        // The map is not collapsed: the clusters' centres lie further apart than any cluster's own spread.
        var centres = labels.Distinct().Select(l => Centre(first.Where((_, i) => labels[i] == l).ToList())).ToArray();
        var spread = labels.Distinct().Max(l =>
        {
            var members = first.Where((_, i) => labels[i] == l).ToList();
            var c = Centre(members);
            return members.Max(m => Distance(m, c));
        });
        for (var a = 0; a < 3; a++)
            for (var b = a + 1; b < 3; b++)
                Assert.True(Distance(centres[a], centres[b]) > spread, $"centres {a} and {b} closer than a cluster's radius {spread:F2}");
    }

    [Fact]
    public void Too_few_vectors_or_a_bad_perplexity_are_refused()
    {
        var three = new[] { new[] { 0f }, new[] { 1f }, new[] { 2f } };
        Assert.Contains("at least 4", Assert.Throws<ArgumentException>(() => Tsne.Embed(three)).Message, StringComparison.Ordinal);
        var four = three.Append(new[] { 3f }).ToArray();
        Assert.Throws<ArgumentException>(() => Tsne.Embed(four, new TsneOptions { Perplexity = 0.5 }));
        Assert.Equal(1.5, Tsne.EffectivePerplexity(4));
        Assert.Equal(30, Tsne.EffectivePerplexity(500));
    }

    private static (double X, double Y) Centre(IReadOnlyList<(double X, double Y)> points) => (points.Average(p => p.X), points.Average(p => p.Y));

    private static double Distance((double X, double Y) a, (double X, double Y) b) => Math.Sqrt((a.X - b.X) * (a.X - b.X) + (a.Y - b.Y) * (a.Y - b.Y));
}
