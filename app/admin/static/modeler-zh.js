// 建模器中文: Chinese labels for the bpmn-js Modeler's own tools (palette, context pad, menus), used
// when the page is in Chinese. A text not listed stays in English.
(function () {
  "use strict";
  var ZH = {
    "Activate create/remove space tool": "插入/删除空间工具",
    "Activate global connect tool": "全局连线工具",
    "Activate hand tool": "抓手工具",
    "Activate lasso tool": "套索工具",
    "Add lane above": "在上方添加泳道",
    "Add lane below": "在下方添加泳道",
    "Add text annotation": "添加文字注释",
    "Align elements": "对齐元素",
    "Append compensation activity": "追加补偿活动",
    "Append conditional intermediate catch event": "追加条件中间捕获事件",
    "Append end event": "追加结束事件",
    "Append gateway": "追加网关",
    "Append intermediate/boundary event": "追加中间/边界事件",
    "Append message intermediate catch event": "追加消息中间捕获事件",
    "Append receive task": "追加接收任务",
    "Append signal intermediate catch event": "追加信号中间捕获事件",
    "Append task": "追加任务",
    "Append timer intermediate catch event": "追加定时中间捕获事件",
    "Change element": "更改元素类型",
    "Connect to other element": "连接到其他元素",
    "Connect using association": "用关联连接",
    "Connect using data input association": "用数据输入关联连接",
    "Create data object reference": "创建数据对象引用",
    "Create data store reference": "创建数据存储引用",
    "Create end event": "创建结束事件",
    "Create expanded sub-process": "创建展开的子流程",
    "Create gateway": "创建网关",
    "Create group": "创建分组",
    "Create intermediate/boundary event": "创建中间/边界事件",
    "Create pool/participant": "创建池/参与者",
    "Create start event": "创建开始事件",
    "Create task": "创建任务",
    "Delete": "删除",
    "Distribute elements horizontally": "水平分布元素",
    "Distribute elements vertically": "垂直分布元素",
    "Divide into three lanes": "分为三条泳道",
    "Divide into two lanes": "分为两条泳道",
    "Search in diagram": "在图中搜索",
    "Toggle non-interrupting": "切换为非中断",
    "Loop": "循环",
    "Parallel multi-instance": "并行多实例",
    "Sequential multi-instance": "串行多实例",
    // dmn-js (决策表编辑)
    "Add input": "添加输入", "Add output": "添加输出", "Add rule": "添加规则",
    "Add rule above": "在上方添加规则", "Add rule below": "在下方添加规则", "Remove rule": "删除规则",
    "Add input column left": "在左侧添加输入列", "Add input column right": "在右侧添加输入列",
    "Add output column left": "在左侧添加输出列", "Add output column right": "在右侧添加输出列",
    "Remove input column": "删除输入列", "Remove output column": "删除输出列",
    "Copy rule": "复制规则", "Cut rule": "剪切规则", "Paste rule above": "在上方粘贴规则",
    "Paste rule below": "在下方粘贴规则", "Annotation": "注释", "Annotations": "注释",
    "Hit policy": "命中策略", "Hit policy:": "命中策略：", "Input": "输入", "Output": "输出",
    "Input expression": "输入表达式", "Input label": "输入标签", "Output label": "输出标签",
    "Output name": "输出名称", "Input values": "输入值", "Output values": "输出值",
    "Expression language": "表达式语言", "Expression": "表达式", "Enter expression": "输入表达式",
    "Decision name": "决策名称", "Element name": "元素名称", "Delete": "删除", "Edit": "编辑",
    "Create decision": "创建决策", "Create input data": "创建输入数据",
    "Create knowledge model": "创建知识模型", "Create knowledge source": "创建知识来源",
    "Literal expression": "字面表达式", "Predefined values": "预定义值", "Then": "则"
  };

  function translate(template, replacements) {
    var text = ZH[template] || template;
    return text.replace(/{([^}]+)}/g, function (_, key) {
      return replacements && key in replacements ? replacements[key] : "{" + key + "}";
    });
  }

  window.WhistleModelerModules = document.documentElement.lang === "zh-CN"
    ? [{ translate: ["value", translate] }] : [];
})();
