using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Parity;

/// <summary>
/// One <c>shared/parity/*_large</c> case: realistic input size, the official outputs, the official loss value and the
/// L2 norm of every parameter's gradient, and the thread counts the results must hold at.
/// </summary>
internal sealed class LargeCase : IDisposable
{
    public required string Name { get; init; }
    public required string Arch { get; init; }
    public required string ConfigJson { get; init; }
    public required string? ContainerKey { get; init; }
    public required string WeightsPath { get; init; }
    public required double AbsTol { get; init; }
    public required double GradRelTol { get; init; }
    public required double LossValue { get; init; }
    public required int[] Threads { get; init; }
    public required string[] OutputNames { get; init; }
    public required IReadOnlyDictionary<string, double> GradL2 { get; init; }
    public required Dictionary<string, Tensor> Tensors { get; init; }

    /// <summary>The factory name of the official architecture (<c>MRCNet</c> is DA-RCOT).</summary>
    public string FactoryArch => Arch switch
    {
        "MRCNet" => "darcot",
        var a => a.ToLowerInvariant(),
    };

    public static LargeCase Load(string name)
    {
        var folder = Fixtures.Path("parity", name);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "case.json")));
        var root = doc.RootElement;
        return new LargeCase
        {
            Name = name,
            Arch = root.GetProperty("arch").GetString()!,
            ConfigJson = root.GetProperty("config").GetRawText(),
            ContainerKey = root.GetProperty("container_key").GetString(),
            WeightsPath = Path.GetFullPath(Path.Combine(folder, root.GetProperty("weights").GetString()!)),
            AbsTol = root.GetProperty("abs_tol").GetDouble(),
            GradRelTol = root.GetProperty("grad_rel_tol").GetDouble(),
            LossValue = root.GetProperty("loss_value").GetDouble(),
            Threads = root.GetProperty("threads").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            OutputNames = root.GetProperty("tensors").EnumerateArray().Select(e => e.GetString()!).Where(n => n != "input").ToArray(),
            GradL2 = root.GetProperty("grad_l2").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble()),
            Tensors = SafetensorsFile.Read(Path.Combine(folder, "tensors.safetensors")),
        };
    }

    public Tensor Input => Tensors["input"];

    /// <summary>Builds the official model through the public factory and loads the case's weights strictly.</summary>
    public nn.Module<Tensor, Tensor> LoadModel()
    {
        var (model, _) = ModelFactory.Create(FactoryArch, ConfigJson);
        if (!StateDictLoader.LoadFile(model, WeightsPath, ContainerKey).IsExact) throw new InvalidOperationException($"{Name}: weights did not load exactly");
        model.eval();
        return model;
    }

    /// <summary>Every named output of <paramref name="model"/> on the case's input.</summary>
    public IReadOnlyDictionary<string, Tensor> Forward(nn.Module<Tensor, Tensor> model) => Forward(model, Input);

    /// <summary>The model's outputs on <paramref name="input"/> (the case's input, e.g. in another memory layout).</summary>
    public static IReadOnlyDictionary<string, Tensor> Forward(nn.Module<Tensor, Tensor> model, Tensor input) =>
        model is INamedOutputs named ? named.ForwardNamed(input) : new Dictionary<string, Tensor> { [INamedOutputs.Final] = model.forward(input) };

    /// <summary>Max |ours − official| of each official output, and the case's loss (sum of mean(output²)) on ours.</summary>
    public (IReadOnlyDictionary<string, double> Errors, Tensor Loss) MeasureOutputs(IReadOnlyDictionary<string, Tensor> outputs)
    {
        var errors = new Dictionary<string, double>();
        Tensor? loss = null;
        foreach (var name in OutputNames)
        {
            var y = outputs[OurName(name)];
            errors[name] = y.shape.SequenceEqual(Tensors[name].shape) ? (y - Tensors[name]).abs().max().item<float>() : double.PositiveInfinity;
            var term = y.pow(2).mean();
            loss = loss is null ? term : loss + term;
        }
        return (errors, loss!);
    }

    /// <summary>Relative error of each official gradient norm (∞ for a missing parameter or gradient); an exactly zero
    /// official gradient (a ReLU that never fires) must be exactly zero here too.</summary>
    public IReadOnlyDictionary<string, double> MeasureGradients(Func<string, Tensor?> parameter)
    {
        var errors = new Dictionary<string, double>();
        foreach (var (key, expected) in GradL2)
        {
            var grad = parameter(key)?.grad;
            if (grad is null) { errors[key] = double.PositiveInfinity; continue; }
            var norm = grad.to(float64).norm().item<double>();
            errors[key] = expected == 0 ? (norm == 0 ? 0 : double.PositiveInfinity) : Math.Abs(norm - expected) / expected;
        }
        return errors;
    }

    /// <summary>Our name for an official output: MPRNet's final stage is <c>output</c> in our named outputs.</summary>
    public static string OurName(string official) => official == "output_stage3" ? "output" : official;

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}
