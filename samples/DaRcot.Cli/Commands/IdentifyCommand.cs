using System.CommandLine;
using System.Globalization;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Identification;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using static TorchSharp.torch;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot identify IMAGE</c>: the most likely degradation of an image (noise, rain, haze, blur, low light) with
/// per-class scores, from a REC model's residual embedding (the bundled model and its identifier by default).
/// <c>darcot identify --fit CLEAN_FOLDER -o identifier.json [--holdout NAME]</c> fits an identifier on crops of clean
/// photos degraded synthetically and reports its accuracy per class on the held-out photos.
/// </summary>
public sealed class IdentifyCommand : ICliCommand
{
    /// <inheritdoc />
    public Command Build()
    {
        var image = new Argument<string?>("image") { Description = "The image to identify (omit with --fit).", Arity = ArgumentArity.ZeroOrOne };
        var identifier = new Option<string?>("--identifier") { Description = "Identifier JSON written by --fit (default: the bundled model's)." };
        var arch = new Option<string?>("--arch", "-a") { Description = "A REC or DA-RCOT architecture for --weights (default: the bundled model)." };
        var config = new Option<string?>("--config", "-c") { Description = "JSON file of the architecture's constructor arguments." };
        var weights = new Option<string?>("--weights", "-w") { Description = "Checkpoint of --arch." };
        var fit = new Option<string?>("--fit") { Description = "Fit an identifier on the clean images of this folder instead of identifying." };
        var output = new Option<string?>("--output", "-o") { Description = "Where --fit writes the identifier JSON." };
        var holdout = new Option<string[]>("--holdout") { Description = "File names in the --fit folder kept out of fitting and used to measure accuracy.", AllowMultipleArgumentsPerToken = true };
        var crop = new Option<int>("--crop") { Description = "Crop size for --fit.", DefaultValueFactory = _ => 96 };
        var crops = new Option<int>("--crops") { Description = "Random crops per photo for --fit.", DefaultValueFactory = _ => 4 };
        var seed = new Option<long>("--seed") { Description = "Seed of crops and degradations for --fit.", DefaultValueFactory = _ => 1 };
        var command = new Command("identify", "Name the degradation of an image from a REC model's residual embedding (or fit the identifier with --fit).");
        command.Arguments.Add(image);
        foreach (var option in new Option[] { identifier, arch, config, weights, fit, output, holdout, crop, crops, seed }) command.Options.Add(option);
        command.SetAction((r, cancellationToken) => CliOutput.RunAsync("identify", () => Run(new Request(r.GetValue(image), r.GetValue(identifier),
            r.GetValue(arch), r.GetValue(config), r.GetValue(weights), r.GetValue(fit), r.GetValue(output), r.GetValue(holdout) ?? [],
            r.GetValue(crop), r.GetValue(crops), r.GetValue(seed)), cancellationToken)));
        return command;
    }

    private sealed record Request(string? Image, string? Identifier, string? Arch, string? Config, string? Weights, string? Fit,
        string? Output, string[] Holdout, int Crop, int Crops, long Seed);

    private static int Run(Request r, CancellationToken cancellationToken)
    {
        if ((r.Arch is null) != (r.Weights is null)) return Fail("give --arch and --weights together (or neither, for the bundled model).");
        if (r.Fit is null && r.Image is null) return Fail("give an image to identify, or --fit CLEAN_FOLDER -o FILE.");
        if (r.Fit is not null && r.Image is not null) return Fail("give either an image or --fit, not both.");
        if (r.Crop < 16 || r.Crops < 1) return Fail("--crop must be at least 16 and --crops at least 1.");
        if (r.Weights is not null && !File.Exists(r.Weights)) return Fail($"weights file '{r.Weights}' does not exist.");
        if (r.Config is not null && !File.Exists(r.Config)) return Fail($"config file '{r.Config}' does not exist.");
        var logger = new CliLogger("identify");
        if (r.Fit is not null)
        {
            if (r.Output is null) return Fail("--fit needs -o FILE for the identifier.");
            if (!Directory.Exists(r.Fit)) return Fail($"folder '{r.Fit}' does not exist.");
            OutputPaths.EnsureWritableFile(r.Output);
        }
        else if (!File.Exists(r.Image)) return Fail($"image '{r.Image}' does not exist.");

        using var restorer = r.Arch is null ? Restorer.LoadBundled(logger: logger)
            : Restorer.Load(r.Arch, r.Config is null ? null : File.ReadAllText(r.Config), r.Weights!, logger: logger);
        return r.Fit is not null ? FitAndMeasure(restorer, r, cancellationToken) : Identify(restorer, r, cancellationToken);
    }

    private static int Identify(Restorer restorer, Request r, CancellationToken cancellationToken)
    {
        var identifier = r.Identifier is not null ? DegradationIdentifier.Load(r.Identifier)
            : r.Arch is null ? BundledModel.LoadIdentifier()
            : throw new DaRcotException("--identifier FILE is required with --arch (fit one with --fit).");
        using var image = ImageTensor.Load(r.Image!);
        var result = identifier.Identify(restorer, image, cancellationToken);
        Console.Out.WriteLine($"{r.Image}: {result.Degradation}");
        foreach (var (name, score) in result.Scores) Console.Out.WriteLine($"  {name,-10} {score.ToString("F3", CultureInfo.InvariantCulture)}");
        return 0;
    }

    private static int FitAndMeasure(Restorer restorer, Request r, CancellationToken cancellationToken)
    {
        var files = Directory.EnumerateFiles(r.Fit!).Where(f => ImageTensor.SupportedExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToList();
        var missing = r.Holdout.Where(h => !files.Any(f => Path.GetFileName(f) == h)).ToList();
        if (missing.Count > 0) return Fail($"held-out image(s) {string.Join(", ", missing)} are not in '{r.Fit}'.");
        var train = files.Where(f => !r.Holdout.Contains(Path.GetFileName(f))).ToList();
        var test = files.Where(f => r.Holdout.Contains(Path.GetFileName(f))).ToList();
        if (train.Count == 0) return Fail($"no training images left in '{r.Fit}'.");

        var random = new Random(unchecked((int)r.Seed));
        using var scope = NewDisposeScope();
        var used = new List<string>();
        var trainCrops = Crops(train, r.Crop, r.Crops, random, used);
        if (trainCrops.Count == 0) return Fail($"no readable training photos in '{r.Fit}'.");
        Console.Error.WriteLine($"fitting on {trainCrops.Count} crops ({r.Crops} per photo of {string.Join(", ", used.Select(Path.GetFileName))})");
        var identifier = DegradationIdentifier.Fit(restorer, restorer.Info.Arch, trainCrops, seed: r.Seed, cancellationToken: cancellationToken);
        identifier.Save(r.Output!);
        Console.Out.WriteLine($"wrote {r.Output} ({identifier.Classes.Count} classes, {identifier.Dimensions} values per embedding)");
        if (test.Count == 0) return 0;

        // Accuracy on held-out photos, with degradation draws the fit never used.
        var testCrops = Crops(test, r.Crop, r.Crops * 5, random, new List<string>());
        Console.Out.WriteLine($"held-out accuracy ({testCrops.Count} crops of {string.Join(", ", test.Select(Path.GetFileName))} per class):");
        var draw = r.Seed + 1_000_000;
        var correct = 0;
        var total = 0;
        foreach (var (name, generators) in DegradationIdentifier.DefaultClasses)
        {
            var right = 0;
            for (var i = 0; i < testCrops.Count; i++)
            {
                var generator = DaRcot.Rec.Data.Degradations.DegradationRegistry.Create(generators[i % generators.Length]);
                using var degraded = DaRcot.Rec.Data.Degradations.DegradationExtensions.Apply(generator, testCrops[i], draw++);
                if (identifier.Identify(restorer, degraded, cancellationToken).Degradation == name) right++;
            }
            Console.Out.WriteLine($"  {name,-10} {right}/{testCrops.Count} = {(100.0 * right / testCrops.Count).ToString("F1", CultureInfo.InvariantCulture)} %");
            correct += right;
            total += testCrops.Count;
        }
        Console.Out.WriteLine($"  {"all",-10} {correct}/{total} = {(100.0 * correct / total).ToString("F1", CultureInfo.InvariantCulture)} %");
        return 0;
    }

    /// <summary>Random square crops (seeded), [1, 3, crop, crop] each.</summary>
    internal static List<Tensor> Crops(IReadOnlyList<string> files, int crop, int perImage, Random random, List<string> used)
    {
        var result = new List<Tensor>();
        foreach (var file in files)
        {
            Tensor image;
            try
            {
                image = ImageTensor.Load(file);
            }
            catch (DaRcotException e)
            {
                // Like folder restores: an unreadable photo is skipped and said, not the end of the fit.
                CliOutput.Warn("identify", $"skipped {file}: {e.Message}");
                continue;
            }
            used.Add(file);
            long h = image.shape[2], w = image.shape[3];
            if (h < crop || w < crop) throw new DaRcotException($"'{file}' ({w}×{h}) is smaller than the {crop}-pixel crop.");
            for (var k = 0; k < perImage; k++)
            {
                var y = random.NextInt64(h - crop + 1);
                var x = random.NextInt64(w - crop + 1);
                result.Add(image.narrow(2, y, crop).narrow(3, x, crop).contiguous());
            }
        }
        return result;
    }

    private static int Fail(string message) => CliOutput.Fail("identify", message);
}
