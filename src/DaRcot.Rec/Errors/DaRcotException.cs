namespace DaRcot.Rec.Errors;

/// <summary>Base type of every error the library raises on purpose. Catch this to handle all of them.</summary>
public class DaRcotException : Exception
{
    /// <summary>Creates the exception with a message that names the problem.</summary>
    public DaRcotException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public DaRcotException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A checkpoint file cannot be read: not a checkpoint, truncated, unknown container, or an unsafe pickle.</summary>
public class CheckpointFormatException : DaRcotException
{
    /// <summary>The file that could not be read.</summary>
    public string Path { get; }

    /// <summary>Creates the exception for <paramref name="path"/> with the reason.</summary>
    public CheckpointFormatException(string path, string reason, Exception? inner = null)
        : base($"Cannot read checkpoint '{path}': {reason}", inner) => Path = path;
}

/// <summary>A pickle references a global that is not on the allow-list; nothing from it was executed.</summary>
public sealed class UnsafePickleException : CheckpointFormatException
{
    /// <summary>The refused global, as <c>module.name</c>.</summary>
    public string Global { get; }

    /// <summary>Creates the exception for the refused <paramref name="global"/>.</summary>
    public UnsafePickleException(string path, string global)
        : base(path, $"the pickle references the global '{global}', which is not on the allow-list of classes a PyTorch checkpoint may use; it was refused and nothing was executed.")
        => Global = global;
}

/// <summary>A model configuration is invalid; the message names the field.</summary>
public sealed class ModelConfigException : DaRcotException
{
    /// <summary>The offending field (official argument name).</summary>
    public string Field { get; }

    /// <summary>Creates the exception for <paramref name="field"/>.</summary>
    public ModelConfigException(string field, string reason) : base($"Invalid model config '{field}': {reason}") => Field = field;
}

/// <summary>An image file cannot be decoded or is refused (too large, unsupported, empty, truncated).</summary>
public sealed class ImageDecodeException : DaRcotException
{
    /// <summary>The file that could not be decoded.</summary>
    public string Path { get; }

    /// <summary>Creates the exception for <paramref name="path"/> with the reason.</summary>
    public ImageDecodeException(string path, string reason, Exception? inner = null)
        : base($"Cannot load image '{path}': {reason}", inner) => Path = path;
}

/// <summary>A tensor argument has the wrong shape, dtype or contents (e.g. NaN).</summary>
public sealed class TensorArgumentException : DaRcotException
{
    /// <summary>The argument name.</summary>
    public string Argument { get; }

    /// <summary>Creates the exception for <paramref name="argument"/>.</summary>
    public TensorArgumentException(string argument, string reason) : base($"Invalid tensor '{argument}': {reason}") => Argument = argument;
}
