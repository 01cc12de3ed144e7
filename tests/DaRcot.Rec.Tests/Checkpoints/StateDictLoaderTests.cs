using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Checkpoints;

public sealed class StateDictLoaderTests
{
    private static Sequential Tiny() => nn.Sequential(("0", nn.Linear(2, 3)), ("1", nn.Linear(3, 1)));

    /// <summary>One Linear registered under two names, like MPRNet's shared PReLU.</summary>
    private sealed class SharedChild : nn.Module<Tensor, Tensor>
    {
#pragma warning disable IDE1006 // official-style field names
        private readonly Linear a;
        private readonly Linear b;
#pragma warning restore IDE1006

        public SharedChild() : base(nameof(SharedChild))
        {
            a = nn.Linear(2, 2);
            b = a;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => b.forward(a.forward(x));
    }

    [Fact]
    public void Strict_mismatch_lists_missing_unexpected_and_shape_keys_and_loads_nothing()
    {
        using var model = Tiny();
        using var before = model.state_dict()["0.bias"].clone();
        var sd = new Dictionary<string, Tensor>
        {
            ["0.weight"] = zeros(3, 5),       // wrong shape
            ["0.bias"] = ones(3),
            ["1.weight"] = ones(1, 3),
            ["2.weight"] = ones(1),           // unexpected; "1.bias" missing
        };
        var e = Assert.Throws<StateDictMismatchException>(() => StateDictLoader.LoadInto(model, sd, strict: true, source: "tiny.pth"));
        Assert.Equal(new[] { "1.bias" }, e.MissingKeys);
        Assert.Equal(new[] { "2.weight" }, e.UnexpectedKeys);
        Assert.Equal(new[] { "0.weight: model [3, 2] vs checkpoint [3, 5]" }, e.ShapeMismatches);
        Assert.Contains("tiny.pth", e.Message);
        Assert.True((model.state_dict()["0.bias"] == before).all().item<bool>(), "strict failure must not load anything");

        var report = StateDictLoader.LoadInto(model, sd, strict: false);
        Assert.Equal(2, report.Loaded);
        Assert.False(report.IsExact);
        Assert.Equal(new[] { "1.bias" }, report.Missing);
        Assert.Equal(new[] { 1f, 1f, 1f }, model.state_dict()["0.bias"].data<float>().ToArray());
        TensorSets.DisposeAll(sd.Values);
    }

    [Fact]
    public void Exact_state_dict_loads_with_dtype_conversion()
    {
        using var model = Tiny();
        var sd = new Dictionary<string, Tensor>
        {
            ["0.weight"] = tensor(new double[] { 1, 2, 3, 4, 5, 6 }).reshape(3, 2),
            ["0.bias"] = tensor(new double[] { 0.5, 0.25, 0.125 }),
            ["1.weight"] = tensor(new double[] { -1, -2, -3 }).reshape(1, 3),
            ["1.bias"] = tensor(new double[] { 9 }),
        };
        var report = StateDictLoader.LoadInto(model, sd);
        Assert.True(report.IsExact);
        Assert.Equal(4, report.Loaded);
        var w = model.state_dict()["0.weight"];
        Assert.Equal(ScalarType.Float32, w.dtype);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, w.data<float>().ToArray());
        // y = 9 - (1·x0+2·x1+0.5) - 2·(3·x0+4·x1+0.25) - 3·(5·x0+6·x1+0.125) for x = (1, 1), all units positive:
        // h = (3.5, 7.25, 11.125); y = 9 - 3.5 - 14.5 - 33.375 = -42.375.
        using var y = model.forward(ones(1, 2));
        Assert.Equal(-42.375f, y.item<float>(), 4);
        TensorSets.DisposeAll(sd.Values);
    }

    [Fact]
    public void A_child_registered_under_two_names_accepts_both_keys()
    {
        using var model = new SharedChild();
        var sd = new Dictionary<string, Tensor>
        {
            ["a.weight"] = full(2, 2, 3f),
            ["a.bias"] = full(2, 0.5f),
            ["b.weight"] = full(2, 2, 3f),
            ["b.bias"] = full(2, 0.5f),
        };
        var report = StateDictLoader.LoadInto(model, sd, strict: true);
        Assert.True(report.IsExact);
        Assert.Equal(new float[] { 3, 3, 3, 3 }, model.state_dict()["a.weight"].data<float>().ToArray());
        TensorSets.DisposeAll(sd.Values);
    }

    [Fact]
    public void LoadFile_reads_and_loads_a_written_checkpoint()
    {
        var dir = Directory.CreateTempSubdirectory("darcot-load-").FullName;
        try
        {
            using var source = Tiny();
            var path = Path.Combine(dir, "tiny.safetensors");
            CheckpointWriter.SaveStateDict(path, source.state_dict());
            using var target = Tiny();
            var report = StateDictLoader.LoadFile(target, path);
            Assert.Equal(4, report.Loaded);
            foreach (var (k, v) in source.state_dict())
                Assert.True((v == target.state_dict()[k]).all().item<bool>(), k);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
