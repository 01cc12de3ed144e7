using DaRcot.Rec.Tests.Data;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Evaluation;

/// <summary><c>darcot eval</c> with an unreadable image and with an unwritable report location.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class EvalReliabilityCommandTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    // Rain100L with three pairs; the second input is not an image.
    private string Layout()
    {
        var input = _tmp.Dir("Test", "derain", "Rain100L", "input");
        var target = _tmp.Dir("Test", "derain", "Rain100L", "target");
        for (int i = 1; i <= 3; i++)
        {
            TempFolder.Constant(Path.Combine(input, $"rain-{i}.png"), 16, 16, 127);
            TempFolder.Constant(Path.Combine(target, $"norain-{i}.png"), 16, 16, 102);
        }
        File.WriteAllText(Path.Combine(input, "rain-2.png"), "not an image");
        return _tmp.Root;
    }

    [Fact]
    public void Cli_eval_exits_2_lists_why_and_writes_the_report()
    {
        var report = Path.Combine(_tmp.Root, "out", "report.md");
        var (code, _, err) = CliRun.Capture("eval", "--data", Layout(), "--input-baseline", "--tasks", "derain", "-o", report);
        Assert.Equal(2, code);
        Assert.Contains("darcot eval: could not evaluate Rain100L/rain-2.png: ", err);
        Assert.Contains("rain-2.png", File.ReadAllText(report));
        Assert.Contains("| Rain100L | derain | 2 |", File.ReadAllText(report));
    }

    [Fact]
    public void Cli_eval_refuses_an_unwritable_report_before_evaluating_anything()
    {
        var notAFolder = Path.Combine(_tmp.Root, "file.txt");
        File.WriteAllText(notAFolder, "x");
        var report = Path.Combine(notAFolder, "report.md");
        var (code, _, err) = CliRun.Capture("eval", "--data", Layout(), "--input-baseline", "--tasks", "derain", "-o", report);
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"'{report}'", line);
        Assert.DoesNotContain(".tmp", line);
        Assert.DoesNotContain("[Rain100L", err);   // no per-image progress: nothing was evaluated
    }
}
