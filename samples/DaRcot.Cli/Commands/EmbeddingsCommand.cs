using System.CommandLine;
using System.Globalization;
using DaRcot.Rec.Data.Degradations;
using DaRcot.Rec.Identification;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot embeddings CLEAN_FOLDER --plot out.png [--projection both|pca|tsne] [--photos NAME ...] [--crops 8]
/// [--crop 128] [--arch ARCH --config FILE --weights FILE]</c>: degrades crops of clean photos with each degradation
/// class, embeds them with a REC / DA-RCOT model (the bundled one by default), projects the pooled residual embeddings
/// to 2-D with PCA and with t-SNE (the paper's Figure 4) and plots them coloured by degradation. With both projections
/// the PCA plot goes to <c>--plot</c> and the t-SNE plot beside it (<c>out-tsne.png</c>). Prints, per projection, the
/// leave-one-out 5-nearest-neighbour accuracy of the labels in the plot: how well it separates the degradations.
/// </summary>
public sealed class EmbeddingsCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var clean = new Argument<string>("clean") { Description = "Folder of clean photos." };
        var plot = new Option<string>("--plot") { Description = "PNG to write.", Required = true };
        var photos = new Option<string[]>("--photos") { Description = "Only these file names of the folder (e.g. held-out photos).", AllowMultipleArgumentsPerToken = true };
        var crops = new Option<int>("--crops") { Description = "Random crops per photo and class.", DefaultValueFactory = _ => 8 };
        var crop = new Option<int>("--crop") { Description = "Crop size.", DefaultValueFactory = _ => 128 };
        var arch = new Option<string?>("--arch", "-a") { Description = "A REC or DA-RCOT architecture for --weights (default: the bundled model)." };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file of the architecture's constructor arguments." };
        var weights = new Option<string?>("--weights", "-w") { Description = "Checkpoint of --arch." };
        var projection = new Option<string>("--projection") { Description = "both (PCA to --plot, t-SNE to NAME-tsne.png), pca or tsne.", DefaultValueFactory = _ => "both" };
        var command = new Command("embeddings", "Plot a REC model's residual embeddings of degraded photos in 2-D (PCA and t-SNE), coloured by degradation.");
        command.Arguments.Add(clean);
        foreach (var option in new Option[] { plot, photos, crops, crop, arch, config, weights, projection }) command.Options.Add(option);
        command.SetAction((r, cancellationToken) => CliOutput.RunAsync("embeddings", () => Run(r.GetValue(clean)!, r.GetValue(plot)!, r.GetValue(photos),
            r.GetValue(crops), r.GetValue(crop), r.GetValue(arch), r.GetValue(config), r.GetValue(weights), r.GetValue(projection), cancellationToken)));
        return command;
    }

    private static int Run(string clean, string plot, string[]? photos, int cropsPerPhoto, int crop, string? arch, string? configPath, string? weights,
        string? projection, CancellationToken cancellationToken)
    {
        projection = (projection ?? "both").Trim().ToLowerInvariant();
        if (projection is not ("both" or "pca" or "tsne")) return Fail($"--projection must be both, pca or tsne, got '{projection}'.");
        if (!Directory.Exists(clean)) return Fail($"folder '{clean}' does not exist.");
        if ((arch is null) != (weights is null)) return Fail("give --arch and --weights together (or neither, for the bundled model).");
        if (cropsPerPhoto < 1 || crop < 16) return Fail("--crops must be at least 1 and --crop at least 16.");
        if (!plot.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) return Fail($"--plot must name a .png file, got '{plot}'.");
        OutputPaths.EnsureWritableFile(plot);
        var tsnePlot = projection == "both" ? Path.Combine(Path.GetDirectoryName(plot) ?? "", Path.GetFileNameWithoutExtension(plot) + "-tsne.png") : plot;
        if (projection == "both") OutputPaths.EnsureWritableFile(tsnePlot);
        var files = Directory.EnumerateFiles(clean).Where(f => ImageTensor.SupportedExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToList();
        if (photos is { Length: > 0 })
        {
            var missing = photos.Where(p => !files.Any(f => Path.GetFileName(f) == p)).ToArray();
            if (missing.Length > 0) return Fail($"photo(s) {string.Join(", ", missing)} are not in '{clean}'.");
            files = files.Where(f => photos.Contains(Path.GetFileName(f))).ToList();
        }

        var logger = new CliLogger("embeddings");
        using var restorer = arch is null ? Restorer.LoadBundled(logger: logger)
            : Restorer.Load(arch, configPath is null ? null : File.ReadAllText(configPath), weights!, logger: logger);
        using var scope = NewDisposeScope();
        var used = new List<string>();
        var crops = IdentifyCommand.Crops(files, crop, cropsPerPhoto, new Random(1), used);
        if (crops.Count == 0) return Fail($"no readable photos in '{clean}'.");
        var vectors = new List<float[]>();
        var labels = new List<string>();
        var draw = 5_000_000L;
        foreach (var (name, generators) in DegradationIdentifier.DefaultClasses)
        {
            for (var i = 0; i < crops.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var degraded = DegradationRegistry.Create(generators[i % generators.Length]).Apply(crops[i], draw++);
                vectors.Add(DegradationIdentifier.Embed(restorer, degraded, cancellationToken));
                labels.Add(name);
            }
            Console.Error.WriteLine($"embedded {crops.Count} crops with {name}");
        }
        var what = $"{restorer.Info.Arch}: residual embeddings of " + (used.Count <= 2 ? string.Join(", ", used.Select(Path.GetFileName)) : $"{used.Count} photos");
        if (projection != "tsne")
        {
            var (points, ex, ey) = EmbeddingProjection.Pca2(vectors);
            EmbeddingProjection.WritePlot(plot, points, labels, what + " (PCA)");
            Console.Out.WriteLine($"wrote {plot}: PCA of {vectors.Count} embeddings of {used.Count} photo(s), 5 degradations; " +
                $"the two axes explain {Percent(ex)} % and {Percent(ey)} % of the variance; 5-NN accuracy in the plot {Percent(EmbeddingProjection.NeighbourAccuracy(points, labels))} %");
        }
        if (projection != "pca")
        {
            Console.Error.WriteLine("t-SNE (exact, 1000 steps)");
            var points = Tsne.Embed(vectors);
            EmbeddingProjection.WritePlot(tsnePlot, points, labels, what + " (t-SNE)", ("t-SNE 1", "t-SNE 2"));
            Console.Out.WriteLine($"wrote {tsnePlot}: t-SNE (perplexity {Tsne.EffectivePerplexity(vectors.Count).ToString("F1", CultureInfo.InvariantCulture)}) of {vectors.Count} embeddings; " +
                $"5-NN accuracy in the plot {Percent(EmbeddingProjection.NeighbourAccuracy(points, labels))} %");
        }
        return 0;
    }

    private static string Percent(double share) => (100 * share).ToString("F1", CultureInfo.InvariantCulture);

    private static int Fail(string message) => CliOutput.Fail("embeddings", message);
}
