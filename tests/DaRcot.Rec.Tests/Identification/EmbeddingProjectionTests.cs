using DaRcot.Rec.Identification;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Identification;

/// <summary>PCA of pooled embeddings, the neighbour accuracy of a projection and the <c>darcot embeddings</c> plots.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class EmbeddingProjectionTests
{
    [Fact]
    public void Points_on_a_line_project_onto_the_first_axis_at_their_distance_from_the_mean()
    {
        // Vectors t·(1, 2) for t = 0, 1, 2: mean t = 1; distance along the line = |t − 1|·√5; all the variance on axis 1.
        var (points, ex, ey) = EmbeddingProjection.Pca2(new[] { new[] { 0f, 0f }, new[] { 1f, 2f }, new[] { 2f, 4f } });
        Assert.Equal(1.0, ex, 12);
        Assert.Equal(0.0, ey, 12);
        Assert.Equal(Math.Sqrt(5), Math.Abs(points[0].X), 10);
        Assert.Equal(0.0, points[1].X, 10);
        Assert.Equal(Math.Sqrt(5), Math.Abs(points[2].X), 10);
        Assert.All(points, p => Assert.Equal(0.0, p.Y, 12));
        Assert.Equal(-Math.Sign(points[0].X), Math.Sign(points[2].X));
    }

    [Fact]
    public void Neighbour_accuracy_counts_points_whose_nearest_neighbours_share_their_label()
    {
        // Two tight groups far apart. Labelled by group: every point's 2 nearest others share its label (1.0). With the
        // label of point 0 flipped to "b": point 0 sees two "a" neighbours (wrong); points 1 and 2 see one "a" and the
        // flipped "b" (a tie: wrong); the "b" group is unaffected (3 right): 3 of 6.
        var points = new[] { (0.0, 0.0), (0.1, 0.0), (0.0, 0.1), (10.0, 10.0), (10.1, 10.0), (10.0, 10.1) };
        Assert.Equal(1.0, EmbeddingProjection.NeighbourAccuracy(points, new[] { "a", "a", "a", "b", "b", "b" }, k: 2), 12);
        Assert.Equal(0.5, EmbeddingProjection.NeighbourAccuracy(points, new[] { "b", "a", "a", "b", "b", "b" }, k: 2), 12);
    }

    [Fact]
    public void The_command_writes_a_png_of_every_class()
    {
        var dir = Directory.CreateTempSubdirectory("darcot-embeddings-").FullName;
        try
        {
            using (var image = rand(new long[] { 1, 3, 40, 48 }, generator: new TorchSharp.torch.Generator(3))) ImageTensor.SavePng(image, Path.Combine(dir, "p.png"));
            var plot = Path.Combine(dir, "e.png");
            var (code, stdout, err) = CliRun.Capture("embeddings", dir, "--plot", plot, "--crops", "2", "--crop", "32");
            Assert.True(code == 0, err);
            Assert.Contains("PCA of 10 embeddings of 1 photo(s), 5 degradations", stdout, StringComparison.Ordinal);
            Assert.Contains("t-SNE (perplexity 3.0) of 10 embeddings", stdout, StringComparison.Ordinal);
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(plot).Take(4).ToArray());
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(Path.Combine(dir, "e-tsne.png")).Take(4).ToArray());

            var (bad, _, badErr) = CliRun.Capture("embeddings", dir, "--plot", plot, "--projection", "umap");
            Assert.Equal(1, bad);
            Assert.Contains("--projection must be both, pca or tsne, got 'umap'", badErr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
