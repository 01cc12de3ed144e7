using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using DaRcot.Rec.Imaging;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Inference;

/// <summary>Non-finite weights, inputs and outputs, empty inputs, skipped files and the memory budget.</summary>
public sealed class RestorerReliabilityTests : IDisposable
{
    private const string TinyNafnet = """{"width": 8, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}""";
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-restorer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Divides by its input's mean: NaN for an all-zero image, finite otherwise.</summary>
    private sealed class DividesByMean : nn.Module<Tensor, Tensor>
    {
        public DividesByMean() : base(nameof(DividesByMean)) { }
        public override Tensor forward(Tensor x) => x / x.mean();
    }

    /// <summary>Adds one (a stand-in network whose output is easy to check), remembering the largest input it saw.</summary>
    private sealed class PlusOne : nn.Module<Tensor, Tensor>
    {
        public long LargestInput { get; private set; }
        public PlusOne() : base(nameof(PlusOne)) { }
        public override Tensor forward(Tensor x)
        {
            LargestInput = Math.Max(LargestInput, x.numel());
            return x + 1;
        }
    }

    // The planner's probe: one 128×128 image.
    private const long ProbeInput = 3 * 128 * 128;

    private static ArchInfo Info(int multiple = 8) => new("test", multiple, PadMode.Replicate, null, 3, 3, new object());

    [Fact]
    public void A_nan_weight_is_refused_at_load_naming_the_tensor_and_the_file()
    {
        var (model, _) = ModelFactory.Create("nafnet", TinyNafnet);
        var weights = Path.Combine(_dir, "nan.safetensors");
        using (model)
        {
            var state = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            state["ending.weight"][0, 0, 0, 0] = float.NaN;
            SafetensorsFile.Write(weights, state);
            foreach (var t in state.Values) t.Dispose();
        }
        var ex = Assert.Throws<NonFiniteTensorException>(() => Restorer.Load("nafnet", TinyNafnet, weights));
        Assert.Equal("ending.weight", ex.TensorName);
        Assert.Equal(1, ex.NaNCount);
        Assert.Contains(weights, ex.Message);
    }

    [Fact]
    public void Nan_or_infinite_inputs_and_outputs_are_refused_naming_which()
    {
        using var restorer = new Restorer(new DividesByMean(), Info(), ownsModel: true);
        using var nan = full(1, 3, 8, 8, float.NaN);
        var input = Assert.Throws<NonFiniteTensorException>(() => restorer.Restore(nan));
        Assert.Equal("input", input.Role);
        Assert.Equal(192, input.NaNCount);

        using var inf = ones(1, 3, 8, 8);
        inf[0, 1, 2, 3] = float.PositiveInfinity;
        Assert.Equal(1, Assert.Throws<NonFiniteTensorException>(() => restorer.Restore(inf)).InfinityCount);

        using var black = zeros(1, 3, 8, 8);   // 0 / 0 inside the network
        var output = Assert.Throws<NonFiniteTensorException>(() => restorer.Restore(black));
        Assert.Equal("output", output.Role);
        Assert.Equal(INamedOutputs.Final, output.TensorName);

        using var grey = full(1, 3, 8, 8, 0.5f);
        using var fine = restorer.Restore(grey);
        Assert.Equal(1f, fine.mean().item<float>());
    }

    [Fact]
    public void An_input_with_an_empty_dimension_is_one_clear_error()
    {
        using var restorer = new Restorer(new PlusOne(), Info(), ownsModel: true);
        using var empty = zeros(1, 3, 0, 16);
        var ex = Assert.Throws<TensorArgumentException>(() => restorer.Restore(empty));
        Assert.Contains("empty dimension", ex.Message);
        Assert.Contains("[1,3,0,16]", ex.Message);
    }

    [Fact]
    public void Too_large_for_one_pass_is_tiled_automatically_with_progress_and_the_same_result()
    {
        // 64 KB per pixel (as set) × 1.25 head-room: a 96×96 image needs ~750 MB in one pass; with a 100 MB budget
        // the largest tile that fits is 32 (≈ 80 MB of working memory plus the small image buffers).
        var options = new RestorerOptions { MemoryBudgetBytes = 100L << 20, WorkingBytesPerPixel = 64 * 1024, TileOverlap = 8 };
        using var restorer = new Restorer(new PlusOne(), Info(), options, ownsModel: true);
        var plan = restorer.Plan(1, 3, 96, 96);
        Assert.True(plan.Automatic);
        Assert.Equal(32, plan.TileSize);
        Assert.True(plan.EstimatedBytes <= plan.BudgetBytes, $"{plan.EstimatedBytes} > {plan.BudgetBytes}");

        using var x = rand(1, 3, 96, 96, generator: new Generator(3));
        var tiles = new List<TileProgress>();
        using var y = restorer.Restore(x, new SyncProgressOf<TileProgress>(tiles.Add));
        Assert.Equal(0, (y - (x + 1)).abs().max().item<float>(), 6);
        Assert.Equal(16, tiles.Count);   // origins 0, 24, 48, 64 on each axis
        Assert.Equal(new TileProgress(16, 16), tiles[^1]);
    }

    [Fact]
    public void An_8000_by_8000_image_is_planned_within_the_budget_or_refused_before_anything_is_allocated()
    {
        var options = new RestorerOptions { MemoryBudgetBytes = 4L << 30, WorkingBytesPerPixel = 16 * 1024 };
        using var restorer = new Restorer(new PlusOne(), Info(), options, ownsModel: true);
        var plan = restorer.Plan(1, 3, 8000, 8000, imageFile: true);
        Assert.NotNull(plan.TileSize);
        Assert.True(plan.EstimatedBytes <= 4L << 30, $"{plan.EstimatedBytes}");
        // Input (768 MB), stitched output + count (1 GB) and the 8-bit file image (256 MB) leave ~2 GB for a tile
        // at 20 KB per pixel: a tile of about 320 pixels, a multiple of 8.
        Assert.InRange(plan.TileSize!.Value, 256, 360);
        Assert.Equal(0, plan.TileSize.Value % 8);

        var tight = new Restorer(new PlusOne(), Info(), options with { MemoryBudgetBytes = 1L << 30 }, ownsModel: true);
        using (tight)
        {
            var ex = Assert.Throws<MemoryBudgetException>(() => tight.Plan(1, 3, 8000, 8000, imageFile: true));
            Assert.Contains("8000×8000", ex.Message);
            Assert.Contains("1.0 GB", ex.Message);
            Assert.True(ex.NeededBytes > ex.BudgetBytes);
        }
        Assert.Equal(ProbeInput, ((PlusOne)restorer.Model).LargestInput);   // only the small probe ever ran
    }

    [Fact]
    public void A_file_too_large_for_the_budget_is_refused_before_it_is_decoded()
    {
        var big = Path.Combine(_dir, "big.png");
        using (var image = zeros(1, 3, 1500, 1500)) ImageTensor.Save(image, big);
        var options = new RestorerOptions { MemoryBudgetBytes = 20L << 20, WorkingBytesPerPixel = 1024 };
        using var restorer = new Restorer(new PlusOne(), Info(), options, ownsModel: true);
        var output = Path.Combine(_dir, "out.png");
        var ex = Assert.Throws<MemoryBudgetException>(() => restorer.RestoreImageFile(big, output));
        Assert.Contains("1500×1500", ex.Message);
        Assert.False(File.Exists(output));
        Assert.Equal(ProbeInput, ((PlusOne)restorer.Model).LargestInput);
    }

    [Fact]
    public void An_explicit_tile_that_cannot_fit_is_refused()
    {
        var options = new RestorerOptions { MemoryBudgetBytes = 100L << 20, WorkingBytesPerPixel = 64 * 1024, TileSize = 64 };
        using var restorer = new Restorer(new PlusOne(), Info(), options, ownsModel: true);
        var ex = Assert.Throws<MemoryBudgetException>(() => restorer.Plan(1, 3, 512, 512));
        Assert.Contains("64-pixel tiles", ex.Message);
        Assert.Contains("--tile", ex.Message);
    }

    [Fact]
    public void A_folder_with_an_unreadable_image_restores_the_others_and_reports_it()
    {
        var files = new List<(string, string)>();
        foreach (var name in new[] { "a", "b", "c" })
        {
            var input = Path.Combine(_dir, name + ".png");
            using (var image = full(1, 3, 8, 8, 0.25f)) ImageTensor.Save(image, input);
            files.Add((input, Path.Combine(_dir, "out", name + ".png")));
        }
        File.WriteAllText(files[1].Item1, "not an image");
        using var restorer = new Restorer(new PlusOne(), Info(), ownsModel: true);
        var progress = new List<FileProgress>();
        var failures = restorer.RestoreImageFiles(files, new SyncProgressOf<FileProgress>(progress.Add));
        var failure = Assert.Single(failures);
        Assert.Equal(files[1].Item1, failure.Input);
        Assert.Contains("not a PNG, JPEG or BMP", failure.Reason);
        Assert.True(File.Exists(files[0].Item2));
        Assert.True(File.Exists(files[2].Item2));
        Assert.Equal(3, progress.Count);

        File.Delete(files[2].Item2);
        Assert.Throws<ImageDecodeException>(() => restorer.RestoreImageFiles(files, failFast: true));
        Assert.False(File.Exists(files[2].Item2));   // the old behaviour: stop at the bad file
    }

    [Fact]
    public void An_unknown_LayerNorm_type_builds_WithBias_as_the_official_code_and_says_so()
    {
        var logger = new ListLogger();
        const string config = """{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "heads": [1, 1, 1, 1], "LayerNorm_type": "Nonsense"}""";
        var (model, _) = ModelFactory.Create("restormer", config, logger);
        using (model)
        {
            var warning = Assert.Single(logger.Warnings);
            Assert.Contains("'Nonsense'", warning);
            Assert.Contains("WithBias", warning);
            // WithBias layer norms have a bias; BiasFree ones do not.
            Assert.Contains(model.state_dict().Keys, k => k.EndsWith("norm1.body.bias", StringComparison.Ordinal));
        }
        var quiet = new ListLogger();
        using (ModelFactory.Create("restormer", config.Replace("Nonsense", "BiasFree"), quiet).Model) Assert.Empty(quiet.Warnings);
    }
}

/// <summary>Reports on the calling thread, for assertions on the exact sequence.</summary>
internal sealed class SyncProgressOf<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
