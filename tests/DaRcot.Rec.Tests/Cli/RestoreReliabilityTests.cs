using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Cli;

/// <summary><c>darcot restore</c> with the bundled model against outputs that would lose work, hostile inputs and
/// folders with an unreadable image.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class RestoreReliabilityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-restore-rel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Image(string name, float value = 0.4f)
    {
        var path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var image = full(1, 3, 24, 24, value);
        ImageTensor.Save(image, path);
        return path;
    }

    private static string OneLine(string err) => Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));

    [Fact]
    public void The_input_as_output_is_refused_directly_or_through_a_link_unless_overwrite()
    {
        var photo = Image("photo.png");
        var original = File.ReadAllBytes(photo);
        var (code, _, err) = CliRun.Capture("restore", photo, "-o", photo);
        Assert.Equal(1, code);
        Assert.Contains("is the input itself", OneLine(err));
        Assert.Contains("--overwrite", err);

        var link = Path.Combine(_dir, "link.png");
        File.CreateSymbolicLink(link, photo);
        Assert.Equal(1, CliRun.Capture("restore", photo, "-o", link).Code);
        Assert.Equal(original, File.ReadAllBytes(photo));

        (code, _, err) = CliRun.Capture("restore", photo, "-o", photo, "--overwrite");
        Assert.True(code == 0, err);
        Assert.NotEqual(original, File.ReadAllBytes(photo));
    }

    [Fact]
    public void The_input_folder_as_output_folder_is_refused()
    {
        var a = Image(Path.Combine("in", "a.png"));
        var before = File.ReadAllBytes(a);
        var (code, _, err) = CliRun.Capture("restore", Path.Combine(_dir, "in"), "-o", Path.Combine(_dir, "in") + "/");
        Assert.Equal(1, code);
        Assert.Contains("is the input folder", OneLine(err));
        Assert.Equal(before, File.ReadAllBytes(a));
    }

    [Fact]
    public void A_folder_with_an_unreadable_image_restores_the_rest_and_exits_2_listing_it()
    {
        Image(Path.Combine("in", "a.png"));
        File.WriteAllText(Path.Combine(_dir, "in", "b.png"), "oops");
        Image(Path.Combine("in", "c.png"));
        var output = Path.Combine(_dir, "out");
        var (code, stdout, err) = CliRun.Capture("restore", Path.Combine(_dir, "in"), "-o", output);
        Assert.Equal(2, code);
        Assert.Contains("darcot restore: skipped ", OneLine(err));
        Assert.Contains("b.png", err);
        Assert.Contains("restored 2 of 3 images", stdout);
        Assert.Equal(["a.png", "c.png"], Directory.GetFiles(output).Select(Path.GetFileName).Order());

        Directory.Delete(output, recursive: true);
        (code, _, err) = CliRun.Capture("restore", Path.Combine(_dir, "in"), "-o", output, "--fail-fast");
        Assert.Equal(1, code);
        Assert.Contains("b.png", OneLine(err));
        Assert.Equal(["a.png"], Directory.GetFiles(output).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("out.jpg", new byte[] { 0xFF, 0xD8, 0xFF })]
    [InlineData("out.bmp", new byte[] { (byte)'B', (byte)'M' })]
    public void The_output_extension_decides_the_format(string name, byte[] signature)
    {
        var output = Path.Combine(_dir, name);
        var (code, _, err) = CliRun.Capture("restore", Image("in.png"), "-o", output);
        Assert.True(code == 0, err);
        Assert.Equal(signature, File.ReadAllBytes(output).Take(signature.Length));
    }

    [Fact]
    public void Unwritable_or_unknown_outputs_are_refused_before_restoring_naming_the_users_path()
    {
        var input = Image("in.png");
        var (code, stdout, err) = CliRun.Capture("restore", input, "-o", Path.Combine(_dir, "out.tif"));
        Assert.Equal(1, code);
        Assert.Contains(".png, .jpg, .jpeg or .bmp", OneLine(err));

        File.WriteAllText(Path.Combine(_dir, "file.txt"), "x");
        var blocked = Path.Combine(_dir, "file.txt", "out.png");
        (code, stdout, err) = CliRun.Capture("restore", input, "-o", blocked);
        Assert.Equal(1, code);
        var line = OneLine(err);
        Assert.Contains($"'{blocked}'", line);
        Assert.DoesNotContain(".tmp", line);
        Assert.Empty(stdout);
        Assert.Equal(["file.txt", "in.png"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Hostile_inputs_are_one_line_each_and_write_nothing()
    {
        var devZero = Path.Combine(_dir, "zero.png");
        File.CreateSymbolicLink(devZero, "/dev/zero");
        var (code, _, err) = CliRun.Capture("restore", devZero, "-o", Path.Combine(_dir, "a.png"));
        Assert.Equal(1, code);
        Assert.Contains("character device", OneLine(err));

        var nan = Path.Combine(_dir, "nan.safetensors");
        using (var t = full(1, 3, 16, 16, float.NaN)) SafetensorsFile.Write(nan, new Dictionary<string, Tensor> { ["input"] = t });
        (code, _, err) = CliRun.Capture("restore", nan, "-o", Path.Combine(_dir, "n.safetensors"));
        Assert.Equal(1, code);
        var line = OneLine(err);
        Assert.Contains("nan.safetensors", line);
        Assert.Contains("768 NaN", line);

        var empty = Path.Combine(_dir, "empty.safetensors");
        using (var t = zeros(1, 3, 0, 16)) SafetensorsFile.Write(empty, new Dictionary<string, Tensor> { ["input"] = t });
        (code, _, err) = CliRun.Capture("restore", empty, "-o", Path.Combine(_dir, "e.safetensors"));
        Assert.Equal(1, code);
        Assert.Contains("empty dimension", OneLine(err));
        Assert.False(File.Exists(Path.Combine(_dir, "n.safetensors")) || File.Exists(Path.Combine(_dir, "e.safetensors")) || File.Exists(Path.Combine(_dir, "a.png")));
    }

    [Fact]
    public void A_memory_budget_too_small_for_the_image_is_refused_in_one_line()
    {
        var (code, _, err) = CliRun.Capture("restore", Image("in.png"), "-o", Path.Combine(_dir, "out.png"), "--memory-budget", "4K");
        Assert.Equal(1, code);
        var line = OneLine(err);
        Assert.Contains("24×24", line);
        Assert.Contains("memory budget is 4 KB", line);
    }

    [Fact]
    public void An_unknown_LayerNorm_type_is_a_warning_on_stderr()
    {
        const string config = """{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "heads": [1, 1, 1, 1], "LayerNorm_type": "Nonsense"}""";
        var configPath = Path.Combine(_dir, "restormer.json");
        File.WriteAllText(configPath, config);
        var weights = Path.Combine(_dir, "w.safetensors");
        var (model, _) = ModelFactory.Create("restormer", config);
        using (model) SafetensorsFile.Write(weights, model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value));
        var (code, _, err) = CliRun.Capture("restore", Image("in.png"), "-o", Path.Combine(_dir, "out.png"), "--arch", "restormer", "--config", configPath, "--weights", weights);
        Assert.True(code == 0, err);
        Assert.StartsWith("darcot restore: warning: ", OneLine(err));
        Assert.Contains("'Nonsense'", err);
    }
    [Fact]
    public void A_tile_that_is_not_a_multiple_is_one_line_without_parameter_names()
    {
        var (code, _, err) = CliRun.Capture("restore", Image("in.png"), "-o", Path.Combine(_dir, "out.png"), "--tile", "12");
        Assert.Equal(1, code);
        var line = OneLine(err);
        Assert.Contains("tile size must be a positive multiple of", line);
        Assert.DoesNotContain("(Parameter", line);
        Assert.DoesNotContain("Actual value", line);
    }
}
