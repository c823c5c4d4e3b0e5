using System.Text.Json.Nodes;
using LZN.Native.IO;
using LZN.Native.Training;

namespace LZN.Tests.Training;

/// <summary>Edited copies of a real checkpoint, for tests of what opening one refuses.</summary>
internal static class CheckpointEdits
{
    /// <summary>
    /// Writes <paramref name="path"/> with <paramref name="edit"/> applied to its metadata and tensors into
    /// <paramref name="folder"/>, with a checksum that matches the edited tensors (as a careful forger would), unless
    /// <paramref name="keepChecksum"/> is false: then what is checked is the edit itself.
    /// </summary>
    public static string Rewrite(string path, string folder, Action<Dictionary<string, string>, List<SafeTensor>> edit, bool keepChecksum = true)
    {
        var file = Safetensors.Read(path);
        var metadata = new Dictionary<string, string>(file.Metadata);
        var tensors = file.Tensors.ToList();
        edit(metadata, tensors);
        if (keepChecksum)
            metadata[Checkpoint.DigestKey] = Safetensors.DataSha256(tensors);
        string edited = Path.Combine(folder, $"edited-{Guid.NewGuid():N}.safetensors");
        Safetensors.Write(edited, tensors, metadata);
        return edited;
    }

    /// <summary>Sets one field of the config in the metadata.</summary>
    public static void SetConfig(Dictionary<string, string> metadata, string key, JsonNode value)
    {
        var config = JsonNode.Parse(metadata["config"])!.AsObject();
        config[key] = value;
        metadata["config"] = config.ToJsonString();
    }

    /// <summary>Sets element <paramref name="index"/> of the float tensor <paramref name="name"/>.</summary>
    public static void SetElement(List<SafeTensor> tensors, string name, int index, float value)
    {
        int position = tensors.FindIndex(tensor => tensor.Name == name);
        float[] values = tensors[position].ToFloat32();
        values[index] = value;
        tensors[position] = SafeTensor.FromFloat32(name, values, tensors[position].Shape);
    }
}
