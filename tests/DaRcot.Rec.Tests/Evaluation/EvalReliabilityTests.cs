using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Evaluation;
using DaRcot.Rec.Tests.Data;
using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Evaluation;

/// <summary>An unreadable test image no longer throws away an evaluation; interrupted runs keep their results.</summary>
public sealed class EvalReliabilityTests : IDisposable
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

    private static IReadOnlyList<TestSet> Sets(string root) => OfficialTestLayout.Discover(root, ["derain"]);

    [Fact]
    public void The_bad_image_is_listed_with_its_reason_and_the_others_are_scored()
    {
        var report = new EvaluationRunner(x => x.clone()).Run(Sets(Layout()), "identity");
        var set = Assert.Single(report.Sets);
        Assert.Equal(["rain-1.png", "rain-3.png"], set.Images.Select(i => i.Name));
        var failed = Assert.Single(set.Failed);
        Assert.StartsWith("rain-2.png: ", failed);
        Assert.Contains("not a PNG, JPEG or BMP", failed);
        var md = ReportWriter.ToMarkdown(report);
        Assert.Contains("Images not evaluated:", md);
        Assert.Contains("- Rain100L: rain-2.png: ", md);
    }

    [Fact]
    public void FailFast_and_cancellation_stop_but_hand_back_the_results_so_far()
    {
        var sets = Sets(Layout());
        var failFast = Assert.Throws<EvaluationFailedException>(() =>
            new EvaluationRunner(x => x.clone(), new EvaluationOptions { FailFast = true }).Run(sets, "identity"));
        Assert.IsType<ImageDecodeException>(failFast.InnerException);
        Assert.Equal(["rain-1.png"], failFast.Partial.Sets.Single().Images.Select(i => i.Name));
        Assert.Contains("rain-2.png", failFast.Partial.StoppedBecause);

        using var cts = new CancellationTokenSource();
        int calls = 0;
        var cancelled = Assert.Throws<EvaluationCanceledException>(() => new EvaluationRunner(x =>
        {
            if (++calls == 1) cts.Cancel();   // cancelled while restoring rain-1: it completes, rain-3 never starts
            return x.clone();
        }).Run(sets, "identity", cancellationToken: cts.Token));
        Assert.IsAssignableFrom<OperationCanceledException>(cancelled);
        Assert.Equal(["rain-1.png"], cancelled.Partial.Sets.Single().Images.Select(i => i.Name));
        Assert.Equal(1, calls);
        Assert.Contains("Partial results", ReportWriter.ToMarkdown(cancelled.Partial));
    }
}
