using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Errors;

namespace DaRcot.Cli.Commands;

/// <summary>
/// <c>darcot info CHECKPOINT [--all] [--json]</c>: what a checkpoint holds — format, top-level keys, every state
/// dict or pickled module in it, the inferred architecture, parameter count and the tensors (name, shape, dtype;
/// the first 20 unless <c>--all</c>). Reads no tensor data and runs nothing from the pickle.
/// </summary>
public sealed class InfoCommand : ICliCommand
{
    private const int DefaultShown = 20;

    /// <inheritdoc />
    public Command Build()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "A .pth/.pt/.ckpt (PyTorch), .safetensors or TorchSharp file." };
        var all = new Option<bool>("--all", "-a") { Description = $"List every tensor (default: the first {DefaultShown} of each state dict)." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text." };
        var command = new Command("info", "Show what a checkpoint holds: format, containers, architecture, parameter count, tensors.");
        command.Arguments.Add(checkpoint);
        command.Options.Add(all);
        command.Options.Add(json);
        command.SetAction((parseResult, cancellationToken) => CliOutput.RunAsync("info", () => Run(parseResult.GetValue(checkpoint)!, parseResult.GetValue(all), parseResult.GetValue(json))));
        return command;
    }

    private static int Run(string path, bool all, bool json)
    {
        try
        {
            var info = CheckpointReader.Inspect(path);
            Console.Out.Write(json ? ToJson(info, all) : ToText(info, all));
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return CliOutput.Fail("info", $"cannot read '{path}': {e.Message}");
        }
    }

    private static string FormatName(CheckpointFormat f) => f switch
    {
        CheckpointFormat.PyTorchZip => "PyTorch zip (torch.save, PyTorch >= 1.6)",
        CheckpointFormat.PyTorchLegacy => "PyTorch legacy (torch.save, PyTorch < 1.6)",
        CheckpointFormat.Pickle => "bare pickle",
        CheckpointFormat.Safetensors => "safetensors",
        CheckpointFormat.TorchSharp => "TorchSharp (Module.save)",
        CheckpointFormat.DaRcotTraining => "DaRcot training checkpoint (darcot train; load its 'transport' weights with --weights)",
        _ => f.ToString(),
    };

    private static string Architecture(CheckpointContainer c) =>
        CheckpointArchitecture.Infer(c.Tensors.Select(t => t.Name)) ?? "unknown";

    private static string Shape(IReadOnlyList<long> shape) => $"[{string.Join(", ", shape)}]";

    private static string ToText(CheckpointInfo info, bool all)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine($"File:      {info.Path}");
        sb.AppendLine($"Format:    {FormatName(info.Format)}");
        sb.AppendLine("Top level:");
        foreach (var e in info.TopLevel) sb.AppendLine($"  {e.Key}: {e.Kind}");
        if (info.Containers.Count == 0) sb.AppendLine("No state dict or module found.");
        foreach (var c in info.Containers)
        {
            var name = c.Key is null ? "(top level)" : $"'{c.Key}'";
            var what = c.ModuleClass is null ? "state dict" : $"pickled module {c.ModuleClass}";
            var isDefault = c.Key is not null && c.Key == info.DefaultContainer ? " [default]" : "";
            sb.AppendLine();
            sb.AppendLine($"Container {name}: {what}{isDefault}");
            sb.AppendLine($"  Architecture: {Architecture(c)}");
            if (CheckpointConfigInference.Infer(Architecture(c), c.Tensors) is { } inferred)
                sb.AppendLine($"  Config:       {inferred.ToJsonString()}   (inferred from the keys; --config for restore/eval)");
            sb.AppendLine(string.Create(inv, $"  Tensors:      {c.TensorCount:N0}"));
            sb.AppendLine(string.Create(inv, $"  Parameters:   {c.ParameterCount:N0}"));
            var shown = all ? c.Tensors : c.Tensors.Take(DefaultShown).ToList();
            if (shown.Count == 0) continue;
            int nameWidth = Math.Max(4, shown.Max(t => t.Name.Length));
            int shapeWidth = Math.Max(5, shown.Max(t => Shape(t.Shape).Length));
            sb.AppendLine($"  {"name".PadRight(nameWidth)}  {"shape".PadRight(shapeWidth)}  dtype");
            foreach (var t in shown) sb.AppendLine($"  {t.Name.PadRight(nameWidth)}  {Shape(t.Shape).PadRight(shapeWidth)}  {t.DType}");
            if (shown.Count < c.Tensors.Count) sb.AppendLine($"  ... {c.Tensors.Count - shown.Count} more (--all lists every tensor)");
        }
        return sb.ToString();
    }

    private static string ToJson(CheckpointInfo info, bool all)
    {
        var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("path", info.Path);
            w.WriteString("format", info.Format.ToString());
            w.WriteStartArray("top_level");
            foreach (var e in info.TopLevel)
            {
                w.WriteStartObject();
                w.WriteString("key", e.Key);
                w.WriteString("kind", e.Kind);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (info.DefaultContainer is null) w.WriteNull("default_container");
            else w.WriteString("default_container", info.DefaultContainer);
            w.WriteStartArray("containers");
            foreach (var c in info.Containers)
            {
                w.WriteStartObject();
                if (c.Key is null) w.WriteNull("key"); else w.WriteString("key", c.Key);
                w.WriteString("kind", c.Kind);
                if (c.ModuleClass is null) w.WriteNull("module_class"); else w.WriteString("module_class", c.ModuleClass);
                w.WriteString("architecture", Architecture(c));
                w.WriteNumber("tensor_count", c.TensorCount);
                w.WriteNumber("parameter_count", c.ParameterCount);
                var shown = all ? c.Tensors : c.Tensors.Take(DefaultShown).ToList();
                w.WriteBoolean("tensors_truncated", shown.Count < c.Tensors.Count);
                w.WriteStartArray("tensors");
                foreach (var t in shown)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteStartArray("shape");
                    foreach (var d in t.Shape) w.WriteNumberValue(d);
                    w.WriteEndArray();
                    w.WriteString("dtype", t.DType);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + Environment.NewLine;
    }
}
