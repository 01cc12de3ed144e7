using DaRcot.Cli;
using DaRcot.Rec.Tests.Data;

namespace DaRcot.Rec.Tests.Evaluation;

public class EvalCommandTests
{
    [Fact]
    public void Input_baseline_on_an_official_layout_writes_the_tables()
    {
        using var tmp = new TempFolder();
        // Rain100L with input = target + a constant 25/255 → PSNR 20·log10(255/25) = 20.17 dB for the input row.
        TempFolder.Constant(Path.Combine(tmp.Dir("Test", "derain", "Rain100L", "input"), "rain-1.png"), 16, 16, 127);
        TempFolder.Constant(Path.Combine(tmp.Dir("Test", "derain", "Rain100L", "target"), "norain-1.png"), 16, 16, 102);
        var report = Path.Combine(tmp.Root, "out", "report.md");

        int code = CliCommands.Run("eval", "--data", tmp.Root, "--input-baseline", "--tasks", "derain", "-o", report);

        Assert.Equal(0, code);
        var md = File.ReadAllText(report);
        Assert.Contains("| Method | Rain100L | Average |", md);
        Assert.Contains("| Input | 20.17/", md);
        Assert.StartsWith("method,set,task,task_id,images,psnr", File.ReadAllText(Path.ChangeExtension(report, ".csv")));
    }

    [Fact]
    public void Bad_arguments_give_a_non_zero_exit_code()
    {
        using var tmp = new TempFolder();
        var report = Path.Combine(tmp.Root, "r.md");
        Assert.Equal(1, CliCommands.Run("eval", "--data", Path.Combine(tmp.Root, "missing"), "--input-baseline", "-o", report));
        Assert.Equal(1, CliCommands.Run("eval", "--data", tmp.Root, "--preset", "restormer-deraining", "-o", report)); // no --weights
        Assert.Equal(1, CliCommands.Run("eval", "--data", tmp.Root, "--input-baseline", "--tasks", "desnow", "-o", report));
        Assert.False(File.Exists(report));
    }
}
