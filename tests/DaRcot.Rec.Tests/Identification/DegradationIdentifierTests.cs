using DaRcot.Rec.Errors;
using DaRcot.Rec.Identification;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Identification;

/// <summary>Nearest-centroid identification of the degradation from the residual embedding.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class DegradationIdentifierTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-identify-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static DegradationIdentifier TwoClasses() => new("m", new[] { "a", "b" }, new[] { new[] { 1f, 0f }, new[] { 0f, 1f } });

    [Fact]
    public void Scores_are_a_softmax_of_cosine_similarities_over_the_temperature()
    {
        // Unit vector (0.6, 0.8): cosine 0.6 with a, 0.8 with b. Scores by hand: b = 1 / (1 + e^((0.6 − 0.8) / 0.05))
        // = 1 / (1 + e^−4) = 0.982014, a = 0.017986.
        var result = TwoClasses().Classify(new[] { 0.6f, 0.8f });
        Assert.Equal("b", result.Degradation);
        Assert.Equal(new[] { "b", "a" }, result.Scores.Select(s => s.Class));
        Assert.Equal(0.982014, result.Scores[0].Score, 6);
        Assert.Equal(0.017986, result.Scores[1].Score, 6);
    }

    [Fact]
    public void An_embedding_of_another_length_names_the_mismatch()
    {
        var e = Assert.Throws<DaRcotException>(() => TwoClasses().Classify(new[] { 1f, 0f, 0f }));
        Assert.Contains("3 values", e.Message, StringComparison.Ordinal);
        Assert.Contains("expects 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Save_and_load_round_trip_and_a_wrong_file_names_itself()
    {
        var path = Path.Combine(_dir, "id.json");
        TwoClasses().Save(path);
        var loaded = DegradationIdentifier.Load(path);
        Assert.Equal(new[] { "a", "b" }, loaded.Classes);
        Assert.Equal("b", loaded.Classify(new[] { 0.1f, 0.9f }).Degradation);

        var bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, """{"model": "m", "classes": ["a"], "centroids": [[1.0]]}""");
        var e = Assert.Throws<CheckpointFormatException>(() => DegradationIdentifier.Load(bad));
        Assert.Contains("bad.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_model_without_a_residual_embedding_is_refused_by_name()
    {
        var (model, info) = ModelFactory.Create("nafnet", """{"width": 4, "enc_blk_nums": [1], "dec_blk_nums": [1]}""");
        using var restorer = new Restorer(model, info, ownsModel: true);
        using var image = rand(1, 3, 16, 16);
        var e = Assert.Throws<DaRcotException>(() => DegradationIdentifier.Embed(restorer, image));
        Assert.Contains("'nafnet' has no residual embedding", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fitted_centroids_are_unit_vectors_one_per_class()
    {
        var (model, info) = BundledModel.Load();
        using var restorer = new Restorer(model, info, ownsModel: true);
        var crops = new[] { rand(new long[] { 1, 3, 32, 32 }, generator: new Generator(1)), rand(new long[] { 1, 3, 32, 32 }, generator: new Generator(2)) };
        var classes = new Dictionary<string, string[]> { ["noise"] = new[] { "denoise_50" }, ["low light"] = new[] { "lowlight" } };
        var fitted = DegradationIdentifier.Fit(restorer, "bundled", crops, classes, samplesPerImage: 1);
        Assert.Equal(new[] { "noise", "low light" }, fitted.Classes);
        Assert.Equal(128, fitted.Dimensions);
        // Each training sample's own class is the nearest on this easy pair (σ 50 noise vs a dark image).
        using var noisy = DaRcot.Rec.Data.Degradations.DegradationExtensions.Apply(DaRcot.Rec.Data.Degradations.DegradationRegistry.Create("denoise_50"), crops[0], 99L);
        Assert.Equal("noise", fitted.Identify(restorer, noisy).Degradation);
        foreach (var c in crops) c.Dispose();
    }

    [Fact]
    public void The_bundled_identifier_names_the_noise_of_the_readme_photo()
    {
        var identifier = BundledModel.LoadIdentifier();
        Assert.Equal(new[] { "noise", "rain", "haze", "blur", "low light" }, identifier.Classes);
        var (code, stdout, err) = CliRun.Capture("identify", Path.Combine(Fixtures.RepoRoot, "samples", "images", "chelsea_noisy25.png"));
        Assert.True(code == 0, err);
        Assert.Contains("chelsea_noisy25.png: noise", stdout, StringComparison.Ordinal);
    }
}
