using DaRcot.Rec.Identification;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Identification;

/// <summary>PCA of pooled embeddings and the <c>darcot embeddings</c> plot.</summary>
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
    public void The_command_writes_a_png_of_every_class()
    {
        var dir = Directory.CreateTempSubdirectory("darcot-embeddings-").FullName;
        try
        {
            using (var image = rand(new long[] { 1, 3, 40, 48 }, generator: new TorchSharp.torch.Generator(3))) ImageTensor.SavePng(image, Path.Combine(dir, "p.png"));
            var plot = Path.Combine(dir, "e.png");
            var (code, stdout, err) = CliRun.Capture("embeddings", dir, "--plot", plot, "--crops", "2", "--crop", "32");
            Assert.True(code == 0, err);
            Assert.Contains("10 embeddings of 1 photo(s), 5 degradations", stdout, StringComparison.Ordinal);
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(plot).Take(4).ToArray());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
