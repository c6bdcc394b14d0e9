// Starts `stylus lsp` for .sdprompt files. All language features live in the server; the
// commands below only pass the active file to the server's `stylus.*` commands.
import { commands, ExtensionContext, window, workspace } from 'vscode';
import { ExecuteCommandRequest, LanguageClient, LanguageClientOptions, ServerOptions } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

/** Runs a server command on the active .sdprompt file (`extra` merged into its argument). */
async function run(command: string, extra: Record<string, unknown> = {}): Promise<void> {
  const editor = window.activeTextEditor;
  if (!client || !editor || editor.document.languageId !== 'sdprompt') {
    await window.showWarningMessage('Stylus: open a .sdprompt file first.');
    return;
  }
  if (editor.document.isDirty) { await editor.document.save(); }
  try {
    await client.sendRequest(ExecuteCommandRequest.type,
      { command, arguments: [{ uri: editor.document.uri.toString(), ...extra }] });
  } catch (e) {
    await window.showErrorMessage(`Stylus: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function activate(context: ExtensionContext): Promise<void> {
  const config = workspace.getConfiguration('stylus');
  const command = config.get<string>('path') || 'stylus';
  const serverOptions: ServerOptions = { command, args: ['lsp'] };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: 'sdprompt' }],
    // The server also pulls the `stylus` section through workspace/configuration.
    initializationOptions: { stylus: workspace.getConfiguration().get('stylus') },
    synchronize: { configurationSection: 'stylus' },
  };
  client = new LanguageClient('stylus', 'Stylus', serverOptions, clientOptions);
  context.subscriptions.push(
    client,
    commands.registerCommand('stylus.editor.compose', () => run('stylus.compose')),
    commands.registerCommand('stylus.editor.composeInstalled', () => run('stylus.compose', { installedOnly: true })),
    commands.registerCommand('stylus.editor.render', () => run('stylus.render')),
    commands.registerCommand('stylus.editor.renderComposed', () => run('stylus.render', { compose: true })),
    commands.registerCommand('stylus.editor.reindex', () => run('stylus.reindex')),
  );
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
