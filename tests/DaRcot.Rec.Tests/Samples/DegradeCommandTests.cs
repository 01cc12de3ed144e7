using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Samples;

/// <summary><c>darcot degrade</c> writes the official test layout that <c>darcot eval</c> reads back.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class DegradeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-degrade-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Photos()
    {
        var clean = Path.Combine(_dir, "clean");
        Directory.CreateDirectory(clean);
        using (var a = rand(new long[] { 1, 3, 24, 32 }, generator: new Generator(1))) ImageTensor.SavePng(a, Path.Combine(clean, "b.png"));
        using (var b = rand(new long[] { 1, 3, 32, 24 }, generator: new Generator(2))) ImageTensor.SavePng(b, Path.Combine(clean, "a.png"));
        File.WriteAllText(Path.Combine(clean, "broken.png"), "not a png");
        return clean;
    }

    [Fact]
    public void The_layout_is_what_eval_discovers_and_unreadable_photos_are_listed()
    {
        var root = Path.Combine(_dir, "Test");
        var (code, stdout, err) = CliRun.Capture("degrade", Photos(), "-o", root);
        Assert.Equal(2, code);
        Assert.Contains("skipped", err, StringComparison.Ordinal);
        Assert.Contains("broken.png", err, StringComparison.Ordinal);
        // Photos are numbered in name order: a.png is 1, b.png is 2.
        Assert.Contains("1: a.png", stdout, StringComparison.Ordinal);
        Assert.Contains("2: b.png", stdout, StringComparison.Ordinal);

        var problems = new List<string>();
        var sets = OfficialTestLayout.Discover(root, problems: problems);
        Assert.Empty(problems);
        // dehaze, derain, 2 denoise σ sets... exactly: SOTS, Rain100L, BSD68 σ=15/25/50, GoPro, LOL.
        Assert.Equal(new[] { "SOTS", "Rain100L", "BSD68 σ=15", "BSD68 σ=25", "BSD68 σ=50", "GoPro", "LOL" }, sets.Select(s => s.Name));
        Assert.All(sets, s => Assert.Equal(2, s.Items.Count));

        // Targets are the clean photos; inputs differ from them.
        using var clean = ImageTensor.Load(Path.Combine(_dir, "clean", "a.png"));
        using var target = ImageTensor.Load(Path.Combine(root, "derain", "Rain100L", "target", "norain-1.png"));
        using var input = ImageTensor.Load(Path.Combine(root, "derain", "Rain100L", "input", "rain-1.png"));
        Assert.True(target.allclose(clean, rtol: 0, atol: 0));
        Assert.False(input.allclose(clean, rtol: 0, atol: 1e-3));
    }

    [Fact]
    public void Eval_scores_the_degraded_layout_with_the_bundled_model_when_no_model_is_given()
    {
        var root = Path.Combine(_dir, "Test");
        CliRun.Capture("degrade", Photos(), "-o", root, "--tasks", "denoise");
        var report = Path.Combine(_dir, "report.md");
        var (code, _, err) = CliRun.Capture("eval", "--data", root, "--tasks", "denoise_25", "-o", report);
        Assert.True(code == 0, err);
        var text = File.ReadAllText(report);
        Assert.Contains("bundled-nafnet-rec", text, StringComparison.Ordinal);
        Assert.Contains("BSD68 σ=25", text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_task_is_one_line()
    {
        var (code, _, err) = CliRun.Capture("degrade", Photos(), "-o", Path.Combine(_dir, "T"), "--tasks", "desnow");
        Assert.Equal(1, code);
        Assert.Equal("darcot degrade: unknown task 'desnow'. Known: derain, dehaze, denoise, deblur, lowlight.", err.Trim());
    }
}
