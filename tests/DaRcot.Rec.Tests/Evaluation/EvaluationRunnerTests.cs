using DaRcot.Rec.Data.Datasets;
using DaRcot.Rec.Evaluation;
using DaRcot.Rec.Tests.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Evaluation;

public class EvaluationRunnerTests
{
    // Two constant 16×16 test images, 102/255 (0.4) and 51/255 (0.2), stored as PNG; input = target so the restorer
    // alone decides the error.
    private static TestSet TinySet(TempFolder tmp, int width = 16, int height = 16)
    {
        var input = tmp.Dir("input");
        var target = tmp.Dir("target");
        foreach (var (name, value) in new[] { ("a.png", (byte)102), ("b.png", (byte)51) })
        {
            TempFolder.Constant(Path.Combine(input, name), width, height, value);
            TempFolder.Constant(Path.Combine(target, name), width, height, value);
        }
        return OfficialTestLayout.Paired(tmp.Root, "input", "target", "Tiny", "derain");
    }

    [Fact]
    public void Identity_restorer_gets_the_capped_psnr_and_ssim_one()
    {
        using var tmp = new TempFolder();
        var progress = new List<EvaluationProgress>();
        var report = new EvaluationRunner(x => x.clone()).Run(new[] { TinySet(tmp) }, "identity", new SyncProgress(progress.Add));
        var set = report.Sets.Single();
        Assert.Equal(2, set.Images.Count);
        // PSNR of identical images is +∞; the report caps it at 100 dB (the official tester's convention).
        Assert.All(set.Images, i => { Assert.Equal(100.0, i.Psnr); Assert.Equal(1.0, i.Ssim, 12); Assert.Equal(100.0, i.PsnrY); });
        Assert.Equal(100.0, report.AveragePsnr);
        Assert.Equal(new[] { 1, 2 }, progress.Select(p => p.Done));
        Assert.All(set.Images, i => Assert.True(i.Milliseconds >= 0));

        var uncapped = new EvaluationRunner(x => x.clone(), new EvaluationOptions { PsnrCapDb = null }).Run(new[] { TinySet(tmp) });
        Assert.True(double.IsPositiveInfinity(uncapped.Sets[0].Psnr));
        Assert.Contains("inf/1.0000", ReportWriter.ToMarkdown(uncapped));
    }

    [Fact]
    public void Constant_offset_gives_hand_computed_psnr_and_ssim()
    {
        using var tmp = new TempFolder();
        var set = TinySet(tmp);
        // Without 8-bit quantisation: error 0.1 everywhere → MSE 0.01 → PSNR = 10·log10(1/0.01) = 20 dB exactly.
        // SSIM of constant images (σ = 0, so the contrast-structure term is C2/C2 = 1) is the luminance term
        // (2μxμy + C1)/(μx² + μy² + C1), C1 = 1e-4: 0.4→0.5 gives 0.4001/0.4101, 0.2→0.3 gives 0.1201/0.1301.
        var plain = new EvaluationRunner(x => x + 0.1, new EvaluationOptions { QuantizeOutputs = false }).Run(new[] { set }, "shift");
        Assert.All(plain.Sets[0].Images, i => Assert.Equal(20.0, i.Psnr, 4));
        Assert.Equal(0.4001 / 0.4101, plain.Sets[0].Images.Single(i => i.Name == "a.png").Ssim, 6);
        Assert.Equal(0.1201 / 0.1301, plain.Sets[0].Images.Single(i => i.Name == "b.png").Ssim, 6);
        Assert.Equal((0.4001 / 0.4101 + 0.1201 / 0.1301) / 2, plain.Sets[0].Ssim, 6);

        // With the official 8-bit rounding, +0.098 is 24.99 levels: 102 + 24.99 + 0.5 truncates to 127 (and 51 → 76),
        // an error of exactly 25/255: PSNR = 20·log10(255/25) = 20.1720 dB. On Y the error is 25/255 · 219/255
        // (the BT.601 luma gains sum to 219/255), so PSNR-Y = 20·log10(255/25 · 255/219).
        var quantised = new EvaluationRunner(x => x + 0.098).Run(new[] { set }, "shift");
        double expected = 20 * Math.Log10(255.0 / 25);
        double expectedY = 20 * Math.Log10(255.0 / 25 * 255.0 / 219);
        Assert.All(quantised.Sets[0].Images, i => { Assert.Equal(expected, i.Psnr, 4); Assert.Equal(expectedY, i.PsnrY, 3); });
        Assert.Equal(expected, quantised.AveragePsnr, 4);

        var md = ReportWriter.ToMarkdown(quantised);
        var lines = md.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Contains("| Method | Tiny | Average |", lines);
        Assert.Contains("|---|---|---|", lines);
        var ssim = quantised.Sets[0].Ssim.ToString("F4", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains($"| shift | 20.17/{ssim} | 20.17/{ssim} |", lines);
        Assert.Contains(lines, l => l.StartsWith("| Tiny | derain | 2 | 20.17 |"));

        var csv = ReportWriter.ToCsv(quantised).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();
        Assert.Equal("method,set,task,task_id,images,psnr,ssim,psnr_y,ssim_y,ms_per_image", csv[0]);
        Assert.StartsWith("shift,Tiny,derain,3,2,20.1720,", csv[1]);
        Assert.StartsWith("shift,Average,all,,2,20.1720,", csv[2]);
        Assert.Equal(3, csv.Length);
    }

    [Fact]
    public void Pads_to_the_multiple_and_crops_back_or_crops_officially()
    {
        using var tmp = new TempFolder();
        var set = TinySet(tmp, width: 10, height: 13);
        var seen = new List<long[]>();
        var report = new EvaluationRunner(x => { seen.Add(x.shape); return x.clone(); }).Run(new[] { set });
        Assert.All(seen, s => Assert.Equal(new long[] { 1, 3, 16, 16 }, s));
        Assert.All(report.Sets[0].Images, i => { Assert.Equal(13, i.Height); Assert.Equal(10, i.Width); });

        seen.Clear();
        var official = new EvaluationRunner(x => { seen.Add(x.shape); return x.clone(); }, new EvaluationOptions { OfficialCrop = true }).Run(new[] { set });
        Assert.All(seen, s => Assert.Equal(new long[] { 1, 3, 8, 8 }, s));
        Assert.All(official.Sets[0].Images, i => { Assert.Equal(8, i.Height); Assert.Equal(8, i.Width); });
    }

    [Fact]
    public void Official_denoising_crop_drops_the_first_row_and_column()
    {
        // 481×321 → 480×320 (tester_noise.py): values identify rows/columns, so the first kept value shows the shift.
        using var x = torch.arange(321 * 481, dtype: ScalarType.Float32).reshape(1, 1, 321, 481);
        var (input, target) = EvaluationRunner.OfficialCropPair(x, x, denoising: true);
        using (input) using (target)
        {
            Assert.Equal(new long[] { 1, 1, 320, 480 }, input.shape);
            Assert.Equal(482f, input[0, 0, 0, 0].item<float>()); // row 1, column 1
        }
    }

    [Fact]
    public void Quantize8_matches_torchvision_save_image_rounding()
    {
        using var x = torch.tensor(new float[] { -0.2f, 0.5f / 255, 0.49f / 255, 254.5f / 255, 1.3f });
        using var q = EvaluationRunner.Quantize8(x) * 255;
        Assert.Equal(new float[] { 0, 1, 0, 255, 255 }, q.round().data<float>().ToArray());
    }

    [Fact]
    public void Report_files_are_written_next_to_each_other()
    {
        using var tmp = new TempFolder();
        var report = new EvaluationRunner(x => x.clone()).Run(new[] { TinySet(tmp) }, "identity");
        var written = ReportWriter.Write(report, Path.Combine(tmp.Root, "out", "report.md"));
        Assert.Equal(new[] { "report.md", "report.csv", "report.images.csv" }, written.Select(Path.GetFileName));
        Assert.All(written, p => Assert.True(File.Exists(p)));
        Assert.Contains("identity,Tiny,derain,3,2,100.0000,1.000000", File.ReadAllText(written[1]));
        Assert.Contains("Tiny,a.png,100.0000,1.000000", File.ReadAllText(written[2]));
    }

    private sealed class SyncProgress(Action<EvaluationProgress> action) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => action(value);
    }
}
